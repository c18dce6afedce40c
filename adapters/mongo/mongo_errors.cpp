#include "adapters/mongo/mongo_errors.hpp"

#include <algorithm>
#include <array>

namespace onceflow::mongo {

write_verdict classify_write_error(int32_t code) {
  if (code == duplicate_key)
    return write_verdict::done;
  // Codes of a document the server will refuse however often it is sent
  // (MongoDB's error_codes.yml).
  static constexpr std::array<int32_t, 14> permanent{
    2,     // BadValue
    9,     // FailedToParse
    14,    // TypeMismatch
    17,    // InvalidLength
    22,    // InvalidBSON
    52,    // DollarPrefixedFieldName
    53,    // InvalidIdField
    55,    // InvalidDBRef
    56,    // EmptyFieldName
    57,    // DottedFieldName
    121,   // DocumentValidationFailure
    10334, // BSONObjectTooLarge
    17280, // KeyTooLong
    17419, // document too large (insert)
  };
  return std::find(permanent.begin(), permanent.end(), code) != permanent.end()
           ? write_verdict::permanent
           : write_verdict::retryable;
}

const char* to_string(write_verdict v) {
  switch (v) {
    case write_verdict::done:
      return "done";
    case write_verdict::retryable:
      return "retryable";
    case write_verdict::permanent:
      return "permanent";
  }
  return "?";
}

} // namespace onceflow::mongo
