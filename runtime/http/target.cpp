#include "runtime/http/target.hpp"

#include <algorithm>
#include <cctype>

namespace onceflow::http {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

} // namespace

bool url_decode(const std::string& in, std::string& out, bool plus_space) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    auto c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size())
        return false;
      auto hi = hex_value(in[i + 1]);
      auto lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0)
        return false;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return true;
}

target parse_target(const std::string& raw) {
  target t;
  auto q = raw.find('?');
  auto path = raw.substr(0, q);
  size_t pos = 0;
  while (pos < path.size()) {
    auto slash = path.find('/', pos);
    if (slash == std::string::npos)
      slash = path.size();
    if (slash > pos) {
      std::string seg;
      if (!url_decode(path.substr(pos, slash - pos), seg, false))
        t.ok = false;
      t.segments.push_back(std::move(seg));
    }
    pos = slash + 1;
  }
  if (q != std::string::npos) {
    auto qs = raw.substr(q + 1);
    size_t p = 0;
    while (p <= qs.size()) {
      auto amp = qs.find('&', p);
      if (amp == std::string::npos)
        amp = qs.size();
      auto part = qs.substr(p, amp - p);
      if (!part.empty()) {
        auto eq = part.find('=');
        std::string k, v;
        if (!url_decode(part.substr(0, eq), k, true)
            || (eq != std::string::npos
                && !url_decode(part.substr(eq + 1), v, true)))
          t.ok = false;
        t.query[k] = v;
      }
      p = amp + 1;
    }
  }
  return t;
}

bool query_uint(const target& t, const std::string& key, uint64_t& out,
                uint64_t min, uint64_t max) {
  auto i = t.query.find(key);
  if (i == t.query.end())
    return true;
  auto& v = i->second;
  if (v.empty() || v.size() > 19)
    return false;
  uint64_t x = 0;
  for (auto c : v) {
    if (c < '0' || c > '9')
      return false;
    x = x * 10 + static_cast<uint64_t>(c - '0');
  }
  if (x < min || x > max)
    return false;
  out = x;
  return true;
}

std::string unknown_query_parameters(const target& t,
                                     const std::vector<std::string>& accepted,
                                     const std::string& route,
                                     std::string& field) {
  std::vector<std::string> unknown;
  for (auto& kv : t.query)
    if (std::find(accepted.begin(), accepted.end(), kv.first) == accepted.end())
      unknown.push_back(kv.first);
  if (unknown.empty())
    return {};
  field = unknown.front();
  std::string text = unknown.size() == 1 ? "unknown query parameter "
                                         : "unknown query parameters ";
  for (size_t i = 0; i < unknown.size(); ++i)
    text += (i > 0 ? ", '" : "'") + unknown[i] + "'";
  text += " (" + route;
  if (accepted.empty()) {
    text += " takes no query parameters)";
    return text;
  }
  text += " takes ";
  for (size_t i = 0; i < accepted.size(); ++i)
    text += (i > 0 ? ", " : "") + accepted[i];
  return text + ")";
}

std::string query_str(const target& t, const std::string& key) {
  auto i = t.query.find(key);
  return i == t.query.end() ? std::string{} : i->second;
}

std::string lower_trimmed(const std::string& in) {
  auto b = in.find_first_not_of(" \t");
  auto e = in.find_last_not_of(" \t");
  std::string out;
  if (b == std::string::npos)
    return out;
  for (auto i = b; i <= e; ++i)
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(in[i])));
  return out;
}

bool is_json_content_type(const std::string& ct) {
  auto semi = ct.find(';');
  if (lower_trimmed(ct.substr(0, semi)) != "application/json")
    return false;
  while (semi != std::string::npos) {
    auto next = ct.find(';', semi + 1);
    auto param = ct.substr(semi + 1, next == std::string::npos
                                       ? std::string::npos
                                       : next - semi - 1);
    auto eq = param.find('=');
    if (eq != std::string::npos
        && lower_trimmed(param.substr(0, eq)) == "charset") {
      auto value = lower_trimmed(param.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
        value = value.substr(1, value.size() - 2);
      if (value != "utf-8" && value != "utf8")
        return false;
    }
    semi = next;
  }
  return true;
}

} // namespace onceflow::http
