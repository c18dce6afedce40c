// Redis CPU per event for each store call of the hot path, measured apart:
// runs append, read_leased (the node's read: it leases, so no claims) and
// settle (done, with an effect record) over N events in batches of B
// through the Redis store adapter, then trims them all (retention, 10000
// per call), and reads Redis's own CPU (INFO cpu: used_cpu_user +
// used_cpu_sys) before and after each phase. Run against an otherwise idle
// redis-server.
//
//   onceflow_redis_phases --redis-url URL [--events N] [--batch B]
//                         [--payload BYTES] [--effect 1|0]
//
// --effect 0 settles without the `store` handler's effect record.

#include "adapters/redis/redis_store.hpp"

#include <hiredis/hiredis.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace onceflow;

namespace {

/// Redis's CPU seconds so far (INFO cpu).
double redis_cpu(redisContext* c) {
  auto* r = static_cast<redisReply*>(redisCommand(c, "INFO cpu"));
  if (r == nullptr || r->type != REDIS_REPLY_STRING)
    throw std::runtime_error("INFO cpu failed");
  std::string text(r->str, r->len);
  freeReplyObject(r);
  double total = 0;
  for (const char* name : {"used_cpu_user:", "used_cpu_sys:"}) {
    auto at = text.find(name);
    if (at == std::string::npos)
      throw std::runtime_error("INFO cpu lacks " + std::string(name));
    total += std::strtod(text.c_str() + at + std::strlen(name), nullptr);
  }
  return total;
}

struct host_port {
  std::string host;
  int port = 6379;
};

host_port parse(const std::string& url) {
  // redis://host:port[/db] (no auth: a bench server).
  auto rest = url.substr(url.find("//") + 2);
  rest = rest.substr(0, rest.find('/'));
  auto colon = rest.rfind(':');
  return {rest.substr(0, colon), std::stoi(rest.substr(colon + 1))};
}

} // namespace

int main(int argc, char** argv) {
  std::string url;
  size_t n = 100'000;
  size_t batch = 1000;
  size_t payload = 64;
  bool effect = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    std::string v = argv[i + 1];
    if (k == "--redis-url")
      url = v;
    else if (k == "--events")
      n = std::stoul(v);
    else if (k == "--batch")
      batch = std::stoul(v);
    else if (k == "--payload")
      payload = std::stoul(v);
    else if (k == "--effect")
      effect = v != "0";
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (url.empty()) {
    std::fprintf(stderr,
                 "usage: %s --redis-url URL [--events N] "
                 "[--batch B] [--payload BYTES] [--effect 1|0]\n",
                 argv[0]);
    return 2;
  }
  auto hp = parse(url);
  std::unique_ptr<redisContext, void (*)(redisContext*)> info(
    redisConnect(hp.host.c_str(), hp.port), redisFree);
  if (!info || info->err) {
    std::fprintf(stderr, "cannot connect to %s\n", url.c_str());
    return 1;
  }
  redis_options opts;
  opts.url = url;
  opts.prefix = "phases" + std::to_string(::getpid()) + ":";
  auto st = make_redis_store(opts);
  st->ensure_group({"g", {"*"}});
  millis_t now = 1'700'000'000'000;
  std::string body = "{\"k\":\"" + std::string(payload, 'x') + "\"}";
  double t_append = 0, t_read = 0, t_settle = 0;
  size_t done = 0;
  uint64_t next_id = 0;
  while (done < n) {
    auto m = std::min(batch, n - done);
    std::vector<event> evs(m);
    for (auto& ev : evs) {
      ev.id = "ev-" + std::to_string(::getpid()) + "-"
              + std::to_string(++next_id);
      ev.type = "order.created";
      ev.payload = body;
      ev.created_at = now;
    }
    auto c0 = redis_cpu(info.get());
    st->append(evs, now, 24LL * 3600 * 1000);
    auto c1 = redis_cpu(info.get());
    // The node's path: a leasing read, no claims.
    auto got = st->read_leased("g", m, now, "node/g/read", 30'000, 3);
    auto c2 = redis_cpu(info.get());
    auto c3 = c2;
    std::vector<settlement> items;
    for (size_t i = 0; i < got.size(); ++i) {
      settlement s;
      s.kind = settle_kind::done;
      s.dl = got[i];
      s.dl.attempt = 1;
      attempt_record rec;
      rec.attempt = 1;
      rec.at = now;
      rec.node = "node";
      rec.listener = "l1";
      rec.epoch = got[i].epoch;
      s.dl.history.push_back(rec);
      s.record_effect = effect;
      items.push_back(std::move(s));
    }
    st->settle(items, now);
    auto c4 = redis_cpu(info.get());
    t_append += c1 - c0;
    t_read += c2 - c1;
    t_settle += c4 - c3;
    done += m;
  }
  auto c5 = redis_cpu(info.get());
  uint64_t trimmed = 0;
  while (auto k = st->trim(now + 1, 1, 24LL * 3600 * 1000, 10'000))
    trimmed += k;
  auto t_trim = redis_cpu(info.get()) - c5;
  if (trimmed != n) {
    std::fprintf(stderr, "trimmed %llu of %zu events\n",
                 static_cast<unsigned long long>(trimmed), n);
    return 1;
  }
  auto per = [&](double t) {
    return t * 1e6 / static_cast<double>(n);
  };
  std::printf("redis_cpu_us_per_event append=%.2f read=%.2f settle=%.2f "
              "total=%.2f trim=%.2f (events=%zu batch=%zu payload=%zu "
              "effect=%d; reads lease, no claims; includes ~3 INFO calls "
              "per batch)\n",
              per(t_append), per(t_read), per(t_settle),
              per(t_append + t_read + t_settle), per(t_trim), n, batch, payload,
              effect ? 1 : 0);
  return 0;
}
