// The remote dispatch path alone (issue 14), no store and no handler: two
// processes on this machine, one sends batches of onceflow `delivery`
// values to actors in the other, which acknowledge each batch with a
// `dispatch_report` per item (what a listener reports to the broadcaster).
// Request/response with a window of K batches in flight, spread over L
// receiving actors (default: one batch per receiver, like the broadcaster's
// one batch per listener with several listeners). Measures items/s, the
// batch round trip and the CPU time of both processes per item.
//
//   onceflow_cluster_dispatch [--runs R] [--seconds S] [--batches 1,100,1000]
//                             [--windows 1,16] [--listeners L]
//                             [--payload BYTES]
//
// Both processes use the CAF settings of a onceflow cluster node:
// scheduler.max-threads=2, middleman heartbeats 500 ms with a 3 s
// connection timeout, and the message schema as application identifier.
// The receiving process is this program, started with --serve (internal).

#include "actors/interfaces.hpp"
#include "runtime/cluster/schema.hpp"
#include "runtime/node.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include <pthread.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

using namespace onceflow;
using namespace std::chrono;

namespace {

struct bench_config : caf::actor_system_config {
  bench_config() {
    register_types(*this);
    load<caf::io::middleman>();
    set("scheduler.max-threads", 2);
    set("middleman.app-identifiers", std::vector<std::string>{schema_id()});
    set("middleman.heartbeat-interval", caf::timespan{milliseconds(500)});
    set("middleman.connection-timeout", caf::timespan{seconds(3)});
  }
};

// -- the receiving process ---------------------------------------------------

/// Acknowledges each batch with a report per item.
caf::behavior sink(caf::event_based_actor*) {
  return {
    [](atom::dispatch, const std::vector<delivery>& batch) {
      std::vector<dispatch_report> rs;
      rs.reserve(batch.size());
      for (auto& dl : batch)
        rs.push_back({dl.ev.seq, dispatch_report::settled, 0});
      return rs;
    },
  };
}

/// Spawns receivers on request (the sender stops them after each
/// measurement); those still running stop with it.
caf::behavior root(caf::event_based_actor* self) {
  auto spawned = std::make_shared<std::vector<caf::actor>>();
  self->attach_functor([spawned] {
    for (auto& hdl : *spawned)
      caf::anon_send_exit(hdl, caf::exit_reason::user_shutdown);
  });
  return {
    [self, spawned](atom::listeners, uint32_t n) {
      std::vector<caf::actor> hdls;
      for (uint32_t i = 0; i < n; ++i)
        hdls.push_back(self->spawn(sink));
      spawned->insert(spawned->end(), hdls.begin(), hdls.end());
      return hdls;
    },
  };
}

/// Publishes the root on a free loopback port, writes the port to
/// `port_fd` and runs until SIGTERM (sent by the sending process at its
/// end, or by the kernel when it dies).
int serve(int port_fd) {
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &term, nullptr); // CAF's threads inherit it
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  bench_config cfg;
  caf::actor_system sys{cfg};
  auto r = sys.spawn(root);
  auto port = sys.middleman().publish(r, 0, "127.0.0.1");
  if (!port) {
    std::cerr << "serve: " << sys.render(port.error()) << "\n";
    return 1;
  }
  auto text = std::to_string(*port) + "\n";
  if (write(port_fd, text.data(), text.size()) < 0)
    return 1;
  close(port_fd);
  int sig = 0;
  sigwait(&term, &sig);
  caf::anon_send_exit(r, caf::exit_reason::user_shutdown);
  return 0;
}

// -- the sending process -----------------------------------------------------

struct options {
  int runs = 5;
  double seconds = 2.0;
  std::vector<uint32_t> batches{1, 100, 1000};
  std::vector<uint32_t> windows{1, 16};
  uint32_t listeners = 0; // 0: one per batch in flight
  size_t payload = 70;
};

/// A delivery as the broadcaster dispatches it: UUIDv7-shaped id, a
/// ~`payload`-byte JSON payload, trace id, group, a read lease.
delivery make_delivery(uint64_t seq, size_t payload) {
  delivery dl;
  char id[40];
  std::snprintf(id, sizeof(id), "0190f5c2-7a3b-7c11-8d2e-%012llx",
                static_cast<unsigned long long>(seq));
  dl.ev.id = id;
  dl.ev.type = "order.created";
  std::string p = R"({"order":)" + std::to_string(seq)
                  + R"(,"customer":"c-0042","amount":19.99,"currency":"EUR")";
  while (p.size() + 1 < payload)
    p += ' ';
  dl.ev.payload = p + "}";
  dl.ev.prio = priority::normal;
  dl.ev.created_at = 1796548285865;
  dl.ev.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  dl.ev.seq = seq;
  dl.group = "orders";
  dl.attempt = 1;
  dl.epoch = seq + 1;
  dl.lease_until = 1796548315865;
  return dl;
}

size_t serialized_size(const std::vector<delivery>& batch) {
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  auto copy = batch;
  if (auto err = sink(copy))
    return 0;
  return buf.size();
}

double cpu_self() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
         + static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double cpu_of(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(f)),
                  std::istreambuf_iterator<char>());
  auto close_paren = all.rfind(')');
  if (close_paren == std::string::npos)
    return 0;
  std::istringstream in(all.substr(close_paren + 2));
  std::string field;
  double ticks = 0;
  for (int i = 0; i < 13 && in >> field; ++i)
    if (i == 11 || i == 12)
      ticks += std::stod(field);
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

struct cell_result {
  double items_per_s = 0;
  double batches_per_s = 0;
  double rtt_p50_us = 0;
  double rtt_p99_us = 0;
  double cpu_sender_us = 0; // per item
  double cpu_receiver_us = 0;
};

/// What one measured cell leaves behind (written by the driver).
struct cell_totals {
  uint64_t items = 0;
  uint64_t batches = 0;
  double seconds = 0;
  std::vector<double> rtts;
};

struct driver_state {
  std::vector<caf::actor> sinks;
  std::shared_ptr<const std::vector<delivery>> batch;
  std::shared_ptr<cell_totals> out;
  steady_clock::time_point start;
  steady_clock::time_point end;
  uint32_t outstanding = 0;
};

/// Keeps the window of batches in flight until the end time; then fills
/// `out` and quits.
void send_next(caf::stateful_actor<driver_state>* self, size_t sink) {
  auto& st = self->state;
  ++st.outstanding;
  auto t0 = steady_clock::now();
  self->request(st.sinks[sink], seconds(30), atom::dispatch_v, *st.batch)
    .then(
      [self, sink, t0](const std::vector<dispatch_report>& rs) {
        auto& st = self->state;
        auto now = steady_clock::now();
        --st.outstanding;
        st.out->items += rs.size();
        ++st.out->batches;
        st.out->rtts.push_back(duration<double, std::micro>(now - t0).count());
        if (now < st.end) {
          send_next(self, sink);
        } else if (st.outstanding == 0) {
          st.out->seconds = duration<double>(now - st.start).count();
          self->quit();
        }
      },
      [self](caf::error& err) {
        std::cerr << "request failed: " << self->system().render(err) << "\n";
        self->quit(err);
      });
}

caf::behavior
driver(caf::stateful_actor<driver_state>* self, std::vector<caf::actor> sinks,
       std::shared_ptr<const std::vector<delivery>> batch, uint32_t window,
       double secs, std::shared_ptr<cell_totals> out) {
  auto& st = self->state;
  st.sinks = std::move(sinks);
  st.batch = std::move(batch);
  st.out = std::move(out);
  st.start = steady_clock::now();
  st.end = st.start + duration_cast<nanoseconds>(duration<double>(secs));
  for (uint32_t i = 0; i < window; ++i)
    send_next(self, i % st.sinks.size());
  return {
    [](atom::tick) {
      // nop: the driver only handles responses
    },
  };
}

double percentile(std::vector<double> xs, double p) {
  if (xs.empty())
    return 0;
  std::sort(xs.begin(), xs.end());
  auto i = static_cast<size_t>(p * static_cast<double>(xs.size() - 1));
  return xs[i];
}

cell_result run_cell(caf::actor_system& sys, const caf::actor& remote_root,
                     pid_t server, uint32_t batch_size, uint32_t window,
                     uint32_t listeners, const options& opt) {
  caf::scoped_actor self{sys};
  cell_result res;
  std::vector<caf::actor> sinks;
  self->request(remote_root, seconds(10), atom::listeners_v, listeners)
    .receive([&](std::vector<caf::actor>& hdls) { sinks = std::move(hdls); },
             [&](caf::error& err) {
               std::cerr << "listeners: " << sys.render(err) << "\n";
             });
  if (sinks.empty())
    return res;
  auto batch = std::make_shared<std::vector<delivery>>();
  for (uint32_t i = 0; i < batch_size; ++i)
    batch->push_back(make_delivery(1000000 + i, opt.payload));
  auto out = std::make_shared<cell_totals>();
  auto c0 = cpu_self();
  auto s0 = cpu_of(server);
  auto d = sys.spawn(driver, sinks,
                     std::shared_ptr<const std::vector<delivery>>(batch),
                     window, opt.seconds, out);
  self->monitor(d);
  self->receive([](const caf::down_msg&) {
    // nop: the driver finished
  });
  if (out->seconds > 0 && out->items > 0) {
    res.items_per_s = static_cast<double>(out->items) / out->seconds;
    res.batches_per_s = static_cast<double>(out->batches) / out->seconds;
    res.rtt_p50_us = percentile(out->rtts, 0.5);
    res.rtt_p99_us = percentile(out->rtts, 0.99);
    auto n = static_cast<double>(out->items);
    res.cpu_sender_us = (cpu_self() - c0) * 1e6 / n;
    res.cpu_receiver_us = (cpu_of(server) - s0) * 1e6 / n;
  }
  for (auto& s : sinks)
    self->send_exit(s, caf::exit_reason::user_shutdown);
  return res;
}

std::vector<uint32_t> parse_list(const std::string& text) {
  std::vector<uint32_t> xs;
  std::istringstream in(text);
  std::string item;
  while (std::getline(in, item, ','))
    xs.push_back(static_cast<uint32_t>(std::stoul(item)));
  return xs;
}

template <class F>
double median_of(const std::vector<cell_result>& rs, F f) {
  std::vector<double> xs;
  xs.reserve(rs.size());
  for (auto& r : rs)
    xs.push_back(f(r));
  std::sort(xs.begin(), xs.end());
  return xs.empty() ? 0 : xs[xs.size() / 2];
}

int run(const options& opt, const char* self_exe) {
  int port_pipe[2];
  if (pipe(port_pipe) != 0)
    return 1;
  auto server = fork();
  if (server == 0) {
    close(port_pipe[0]);
    auto fd = std::to_string(port_pipe[1]);
    execl(self_exe, self_exe, "--serve", fd.c_str(), nullptr);
    _exit(127);
  }
  close(port_pipe[1]);
  char buf[32] = {};
  auto n = read(port_pipe[0], buf, sizeof(buf) - 1);
  close(port_pipe[0]);
  if (n <= 0) {
    std::cerr << "the receiving process did not start\n";
    return 1;
  }
  auto port = static_cast<uint16_t>(std::stoul(buf));
  int rc = 0;
  {
    bench_config cfg;
    caf::actor_system sys{cfg};
    auto remote = sys.middleman().remote_actor("127.0.0.1", port);
    if (!remote) {
      std::cerr << "connect: " << sys.render(remote.error()) << "\n";
      rc = 1;
    } else {
      std::cout << "# delivery on the wire: "
                << serialized_size({make_delivery(1000000, opt.payload)})
                << " bytes (payload " << opt.payload << " bytes); batch of "
                << "1000: "
                << serialized_size(std::vector<delivery>(
                     1000, make_delivery(1000000, opt.payload)))
                << " bytes\n";
      // Warm-up: connections, allocators.
      run_cell(sys, *remote, server, 100, 16, 16, [&] {
        auto o = opt;
        o.seconds = 0.5;
        return o;
      }());
      for (auto b : opt.batches)
        for (auto k : opt.windows) {
          auto l = opt.listeners > 0 ? opt.listeners : k;
          std::vector<cell_result> rs;
          rs.reserve(static_cast<size_t>(opt.runs));
          for (int i = 0; i < opt.runs; ++i)
            rs.push_back(run_cell(sys, *remote, server, b, k, l, opt));
          std::ostringstream runs;
          for (auto& r : rs)
            runs << (runs.tellp() > 0 ? " " : "")
                 << static_cast<uint64_t>(r.items_per_s);
          std::printf("batch=%-5u window=%-3u receivers=%-3u items/s=%.0f "
                      "(runs: %s) batches/s=%.0f rtt_us p50=%.0f p99=%.0f "
                      "cpu_us/item sender=%.2f receiver=%.2f\n",
                      b, k, l,
                      median_of(rs, [](auto& r) { return r.items_per_s; }),
                      runs.str().c_str(),
                      median_of(rs, [](auto& r) { return r.batches_per_s; }),
                      median_of(rs, [](auto& r) { return r.rtt_p50_us; }),
                      median_of(rs, [](auto& r) { return r.rtt_p99_us; }),
                      median_of(rs, [](auto& r) { return r.cpu_sender_us; }),
                      median_of(rs, [](auto& r) { return r.cpu_receiver_us; }));
          std::fflush(stdout);
        }
    }
  }
  kill(server, SIGTERM);
  int status = 0;
  waitpid(server, &status, 0);
  return rc;
}

} // namespace

int main(int argc, char** argv) {
  options opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--serve")
      return serve(std::stoi(value()));
    if (a == "--runs")
      opt.runs = std::stoi(value());
    else if (a == "--seconds")
      opt.seconds = std::stod(value());
    else if (a == "--batches")
      opt.batches = parse_list(value());
    else if (a == "--windows")
      opt.windows = parse_list(value());
    else if (a == "--listeners")
      opt.listeners = static_cast<uint32_t>(std::stoul(value()));
    else if (a == "--payload")
      opt.payload = std::stoul(value());
    else {
      std::cerr << "unknown option " << a << "\n";
      return 2;
    }
  }
  // The receiving process is this program again.
  char exe[4096] = {};
  if (readlink("/proc/self/exe", exe, sizeof(exe) - 1) <= 0)
    return 1;
  return run(opt, exe);
}
