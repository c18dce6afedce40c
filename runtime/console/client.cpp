#include "runtime/console/client.hpp"

#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/openssl/manager.hpp>

#include <algorithm>
#include <set>

namespace onceflow::console {

bool is_link_error(const caf::error& err) {
  return err && err.category() != caf::atom("onceflow");
}

namespace {

std::string address_of(const cluster_node& n) {
  return n.host + ":" + std::to_string(n.port);
}

/// The longest wait between two connect attempts to a node that is down.
constexpr millis_t max_backoff = 5000;

} // namespace

client::client(caf::actor_system& sys, std::vector<cluster_node> nodes,
               std::string key, bool tls, std::chrono::milliseconds deadline)
  : sys_(sys),
    self_(sys),
    key_(std::move(key)),
    tls_(tls),
    deadline_(deadline) {
  for (auto& n : nodes) {
    node_link l;
    l.entry = std::move(n);
    l.error = "not connected yet";
    nodes_.push_back(std::move(l));
  }
}

node_link* client::find(const std::string& name) {
  for (auto& n : nodes_)
    if (n.entry.name == name)
      return &n;
  return nullptr;
}

std::vector<node_link*> client::up_nodes() {
  std::vector<node_link*> out;
  for (auto& n : nodes_)
    if (n.up)
      out.push_back(&n);
  return out;
}

std::vector<node_link*> client::up_cores() {
  std::vector<node_link*> out;
  for (auto& n : nodes_)
    if (n.up && n.entry.role == node_role::core)
      out.push_back(&n);
  return out;
}

std::string client::describe(const caf::error& err) const {
  if (!err)
    return "no error";
  if (err.category() == caf::atom("onceflow"))
    return render(err);
  if (err == caf::sec::request_timeout)
    return "no answer within " + std::to_string(deadline_.count())
           + " ms (is it an onceflow node, and running?)";
  if (err == caf::sec::request_receiver_down)
    return "connection lost";
  if (err == caf::sec::incompatible_application_ids)
    return "it speaks another message schema (not onceflow, or another "
           "onceflow version)";
  if (err == caf::sec::cannot_connect_to_node && !err.context().empty())
    return "connection refused or unreachable (is the node running?)";
  if (err == caf::sec::disconnect_during_handshake)
    return "the peer closed the connection during CAF's handshake (not an "
           "onceflow node, or TLS on at one side only)";
  return sys_.render(err);
}

void client::mark_down(node_link& n, const std::string& why) {
  auto now = wall_now();
  if (n.up || n.since < 0)
    n.since = now;
  n.up = false;
  n.ep = nullptr;
  n.error = why;
  n.rtt = -1;
  auto backoff = std::min<millis_t>(
    max_backoff, millis_t{250} << std::min<uint32_t>(n.failures, 5));
  n.next_try = now + backoff;
  ++n.failures;
}

void client::mark_up(node_link& n) {
  if (!n.up || n.since < 0) {
    n.since = wall_now();
    self_->monitor(n.ep);
  }
  n.up = true;
  n.failures = 0;
  n.error.clear();
}

void client::refresh(bool force) {
  // Endpoints that went down since the last round (their connection
  // closed): no need to wait for a deadline to know.
  for (bool more = true; more;) {
    more = false;
    self_->receive(
      [&](caf::down_msg& msg) {
        more = true;
        for (auto& n : nodes_)
          if (n.ep && n.ep.address() == msg.source)
            mark_down(n, "connection lost (" + to_string(msg.reason) + ")");
      },
      caf::after(std::chrono::milliseconds(0)) >>
        [] {
          // Nothing (more) happened.
        });
  }
  auto now = wall_now();
  caf::io::middleman_actor mm = tls_ ? sys_.openssl_manager().actor_handle()
                                     : sys_.middleman().actor_handle();
  using handle = decltype(self_->request(mm, deadline_, caf::connect_atom_v,
                                         std::string{}, uint16_t{0}));
  std::vector<std::pair<node_link*, handle>> pending;
  for (auto& n : nodes_)
    if (!n.up && (force || now >= n.next_try))
      pending.emplace_back(&n,
                           self_->request(mm, deadline_, caf::connect_atom_v,
                                          n.entry.host, n.entry.port));
  std::vector<node_link*> connected;
  for (auto& [n, h] : pending) {
    auto addr = address_of(n->entry);
    h.receive(
      [&, n = n](caf::node_id&, caf::strong_actor_ptr& ptr,
                 std::set<std::string>& ifs) {
        if (!ptr) {
          mark_down(*n, "no onceflow endpoint on " + addr);
          return;
        }
        if (ifs != sys_.message_types<endpoint_actor>()) {
          mark_down(*n, "the actor on " + addr
                          + " is not an onceflow endpoint of this version");
          return;
        }
        n->ep = caf::actor_cast<endpoint_actor>(ptr);
        connected.push_back(n);
      },
      [&, n = n](caf::error& err) {
        mark_down(*n, "cannot connect to " + addr + ": " + describe(err));
      });
  }
  // Up once the endpoint answers, and is the node the config names there.
  for (auto& [n, r] :
       ask_all<caf::settings>(connected, atom::members_v, key_)) {
    if (r) {
      auto name = caf::get_or(*r, "self", std::string{});
      if (name != n->entry.name) {
        mark_down(*n, "the node on " + address_of(n->entry) + " is '" + name
                        + "', the config names '" + n->entry.name + "' there");
        continue;
      }
      mark_up(*n);
    } else if (!is_link_error(r.error())) {
      // It answers, but refuses (an API key problem): up, with the reason.
      mark_up(*n);
      n->error = describe(r.error());
    }
  }
}

} // namespace onceflow::console
