#include "runtime/client.hpp"

#include "actors/logic/validation.hpp"
#include "runtime/cluster/tls.hpp"
#include "runtime/command_line.hpp"

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include <algorithm>
#include <utility>

namespace onceflow {

const char* to_string(publish_result::kind k) {
  switch (k) {
    case publish_result::kind::accepted:
      return "accepted";
    case publish_result::kind::duplicate:
      return "duplicate";
    case publish_result::kind::rejected:
      return "rejected";
    case publish_result::kind::failed:
      break;
  }
  return "failed";
}

struct client::impl {
  command::app_config cfg;
  node_config ncfg;
  std::string key;
  std::chrono::milliseconds timeout{60000};
  std::unique_ptr<caf::actor_system> sys;
  endpoint_actor ep;

  /// Starts the actor system and connects; throws client_error.
  void connect() {
    if (!sys)
      sys = std::make_unique<caf::actor_system>(cfg);
    if (auto err = command::connect_endpoint(*sys, ncfg, ep); !err.empty())
      throw client_error(err);
  }

  /// Sends one batch of valid events; on an error other than a refusal of
  /// the key it reconnects and sends the batch once more (the events' ids
  /// make a second copy a duplicate, never a second event).
  caf::expected<std::vector<append_result>>
  send(const std::vector<event>& batch) {
    using namespace std::chrono;
    // One deadline for the batch: its calls, overloaded answers and a
    // second try after a reconnect share `timeout`.
    auto deadline = steady_clock::now() + timeout;
    auto left = [&] {
      return std::max(milliseconds{1}, duration_cast<milliseconds>(
                                         deadline - steady_clock::now()));
    };
    caf::expected<std::vector<append_result>> got{caf::error{}};
    for (int round = 0; round < 2; ++round) {
      {
        caf::scoped_actor self{*sys};
        got = command::ingest_batch(self, ep, key, batch, left(), left());
      }
      if (got || command::is_refusal(got.error()) || round == 1
          || steady_clock::now() >= deadline)
        break;
      try {
        connect();
      } catch (const client_error&) {
        break;
      }
    }
    return got;
  }
};

client::client(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {
  impl_->connect();
}

client::client(const client_options& opts)
  : client([&] {
      auto p = std::make_unique<impl>();
      p->ncfg.host = opts.host;
      p->ncfg.port = opts.port;
      p->key = opts.api_key;
      p->timeout = opts.timeout;
      auto& tls = p->ncfg.cluster.tls;
      tls.ca_file = opts.tls_ca_file;
      tls.cert_file = opts.tls_cert_file;
      tls.key_file = opts.tls_key_file;
      tls.key_passphrase = opts.tls_key_passphrase;
      command::set_network_options(p->cfg, p->ncfg);
      if (tls.enabled()) {
        if (auto err = check_tls_files(tls, false); !err.empty())
          throw client_error("bad TLS options: " + err);
        enable_tls(p->cfg, tls);
      }
      return p;
    }()) {
  // nop
}

client client::from_config(const std::string& file,
                           const std::vector<std::string>& args) {
  std::vector<std::string> words{"onceflow", "publish", "--config", file};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(words.size());
  for (auto& w : words)
    argv.push_back(w.data());
  command::cli cli;
  if (auto err = command::parse_cli(static_cast<int>(argv.size()), argv.data(),
                                    cli);
      !err.empty())
    throw client_error(err);
  auto p = std::make_unique<impl>();
  std::map<std::string, std::string> sources;
  std::string error;
  if (command::load_config(cli, p->cfg, p->ncfg, sources, error) != 0)
    throw client_error(error);
  p->key = cli.api_key.value_or(p->ncfg.client_api_key);
  return client{std::move(p)};
}

client::client(client&&) noexcept = default;
client& client::operator=(client&&) noexcept = default;
client::~client() = default;

publish_result client::publish(const event_spec& ev) {
  return publish(std::vector<event_spec>{ev}).front();
}

std::vector<publish_result>
client::publish(const std::vector<event_spec>& evs,
                const std::function<void(size_t)>& progress) {
  auto& lim = impl_->ncfg.limits;
  std::vector<publish_result> out(evs.size());
  // The valid events and where their results go.
  std::vector<event> valid;
  std::vector<size_t> where;
  for (size_t i = 0; i < evs.size(); ++i) {
    auto& e = evs[i];
    auto r = validate(submission{e.id, e.type, e.payload, e.priority, e.delay,
                                 e.not_before},
                      lim);
    check_not_before(r, lim, wall_now());
    out[i].id = r.ok ? r.ev.id : e.id;
    if (!r.ok) {
      out[i].status = publish_result::kind::rejected;
      out[i].error = "field '" + r.field + "' " + r.message;
      continue;
    }
    valid.push_back(std::move(r.ev));
    where.push_back(i);
  }
  auto batch_size
    = std::max<size_t>(1, std::min<size_t>(1000, impl_->ncfg.max_ingest_batch));
  std::string refused;
  size_t done = evs.size() - valid.size();
  for (size_t first = 0; first < valid.size(); first += batch_size) {
    auto last = std::min(valid.size(), first + batch_size);
    std::vector<event> batch(valid.begin() + first, valid.begin() + last);
    auto fail = [&](const std::string& why) {
      for (size_t k = first; k < last; ++k) {
        out[where[k]].status = publish_result::kind::failed;
        out[where[k]].error = why;
      }
    };
    if (!refused.empty()) {
      fail(refused);
    } else if (auto got = impl_->send(batch); !got) {
      fail(render(got.error()));
      if (command::is_refusal(got.error()))
        refused = render(got.error());
    } else {
      for (size_t k = first; k < last; ++k) {
        auto& res = out[where[k]];
        if (k - first >= got->size()) {
          res.status = publish_result::kind::failed;
          res.error = "no answer for this event in the node's reply";
          continue;
        }
        auto& r = (*got)[k - first];
        res.status = r.duplicate ? publish_result::kind::duplicate
                                 : publish_result::kind::accepted;
        if (r.duplicate)
          res.original = to_string(r.original);
      }
    }
    done += last - first;
    if (progress)
      progress(done);
  }
  return out;
}

} // namespace onceflow
