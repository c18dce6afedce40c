#include "adapters/redis/redis_url.hpp"

#include "adapters/ports.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>

namespace onceflow {

namespace {

[[noreturn]] void bad_url(const std::string& url, const std::string& why) {
  throw store_error(
    "bad redis URL '" + url + "': " + why
    + " (expected redis[s]://[user:password@]host[:port][/db])");
}

std::string percent_decode(const std::string& url, const std::string& in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      if (i + 2 >= in.size() || !std::isxdigit(static_cast<uint8_t>(in[i + 1]))
          || !std::isxdigit(static_cast<uint8_t>(in[i + 2])))
        bad_url(url, "bad percent escape in the user:password part");
      out += static_cast<char>(std::stoi(in.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

int parse_number(const std::string& url, const std::string& text,
                 const char* what, int lo, int hi) {
  if (text.empty() || text.size() > 9
      || !std::all_of(text.begin(), text.end(),
                      [](char c) { return c >= '0' && c <= '9'; }))
    bad_url(url, std::string(what) + " '" + text + "' is not a number");
  auto v = std::stoi(text);
  if (v < lo || v > hi)
    bad_url(url, std::string(what) + " " + text + " is out of range");
  return v;
}

} // namespace

std::string redis_url::name() const {
  return std::string{tls ? "rediss://" : "redis://"} + host + ":"
         + std::to_string(port);
}

redis_url parse_redis_url(const std::string& url) {
  redis_url out;
  std::string scheme = "redis://";
  if (url.compare(0, 9, "rediss://") == 0) {
    scheme = "rediss://";
    out.tls = true;
  } else if (url.compare(0, scheme.size(), scheme) != 0) {
    bad_url(url, "the scheme must be redis:// or rediss:// (TLS; no unix "
                 "sockets)");
  }
  auto rest = url.substr(scheme.size());
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) {
    auto db = rest.substr(slash + 1);
    if (!db.empty())
      out.db = parse_number(url, db, "database", 0, 1 << 20);
  }
  auto at = authority.rfind('@');
  if (at != std::string::npos) {
    auto userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    auto colon = userinfo.find(':');
    if (colon == std::string::npos) {
      out.password = percent_decode(url, userinfo);
    } else {
      out.user = percent_decode(url, userinfo.substr(0, colon));
      out.password = percent_decode(url, userinfo.substr(colon + 1));
    }
    out.has_auth = true;
  }
  std::string port;
  if (!authority.empty() && authority[0] == '[') {
    auto close = authority.find(']');
    if (close == std::string::npos)
      bad_url(url, "unterminated [ in the host");
    out.host = authority.substr(1, close - 1);
    auto tail = authority.substr(close + 1);
    if (!tail.empty()) {
      if (tail[0] != ':')
        bad_url(url, "junk after the host");
      port = tail.substr(1);
      if (port.empty())
        bad_url(url, "empty port");
    }
  } else {
    auto colon = authority.rfind(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos) {
      port = authority.substr(colon + 1);
      if (port.empty())
        bad_url(url, "empty port");
    }
  }
  if (out.host.empty())
    bad_url(url, "missing host");
  if (!port.empty())
    out.port = parse_number(url, port, "port", 1, 65535);
  return out;
}

} // namespace onceflow
