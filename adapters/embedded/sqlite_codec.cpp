#include "adapters/embedded/sqlite_codec.hpp"

#include "adapters/codec.hpp"

#include <nlohmann/json.hpp>

namespace onceflow::embedded {

using json = nlohmann::json;

delivery decode_delivery(const connection& conn, const std::string& text) {
  try {
    return codec::delivery_from_json(text);
  } catch (const codec::decode_error& ex) {
    conn.fail("decode delivery", ex.what());
  }
}

std::string encode_patterns(const std::vector<std::string>& patterns) {
  return codec::dump(json(patterns));
}

std::vector<std::string> decode_patterns(const connection& conn,
                                         const std::string& text) {
  try {
    return json::parse(text).get<std::vector<std::string>>();
  } catch (const json::exception& ex) {
    conn.fail("decode patterns", ex.what());
  }
}

} // namespace onceflow::embedded
