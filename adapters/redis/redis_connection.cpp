#include "adapters/redis/redis_connection.hpp"

#include "adapters/redis/tls_link.hpp"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>
#include <utility>

namespace onceflow {

namespace {

timeval to_timeval(int ms) {
  timeval tv;
  tv.tv_sec = ms / 1000;
  tv.tv_usec = static_cast<suseconds_t>(ms % 1000) * 1000;
  return tv;
}

std::string lower_first(std::string s) {
  if (!s.empty())
    s[0] = static_cast<char>(std::tolower(static_cast<uint8_t>(s[0])));
  return s;
}

int64_t steady_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

} // namespace

void context_deleter::operator()(redisContext* c) const {
  if (c != nullptr)
    redisFree(c);
}

redis_connection::redis_connection(const redis_url& url,
                                   const redis_options& opts)
  : url_(url), opts_(opts), name_(url.name()) {
  // nop
}

redis_connection::~redis_connection() = default;

void redis_connection::fail(const std::string& op, const std::string& msg,
                            store_error::kind k) const {
  fail_call(name_, op, msg, k);
}

void redis_connection::connect() {
  auto now = steady_now_ms();
  if (now < retry_at_)
    throw store_error(connect_error_ + " (reconnecting: next attempt in "
                      + std::to_string(retry_at_ - now) + " ms)");
  connecting_ = true;
  try {
    connect_now();
    connecting_ = false;
    backoff_ms_ = 0;
    retry_at_ = 0;
  } catch (const store_error& ex) {
    connecting_ = false;
    backoff_ms_ = std::min(5000, std::max(100, backoff_ms_ * 2));
    // Jitter: nodes that lost Redis together do not come back in step.
    static thread_local std::minstd_rand rng{std::random_device{}()};
    auto delay
      = backoff_ms_ / 2
        + static_cast<int>(rng() % static_cast<unsigned>(backoff_ms_ / 2 + 1));
    retry_at_ = steady_now_ms() + delay;
    connect_error_ = ex.what();
    throw;
  }
}

void redis_connection::connect_now() {
  ctx_.reset();
  tls_.reset();
  broken_ = true;
  unreachable_ = false;
  if (url_.tls) {
    tls_link_options to;
    to.ca_file = opts_.tls_ca_file;
    to.cert_file = opts_.tls_cert_file;
    to.key_file = opts_.tls_key_file;
    to.connect_timeout_ms = opts_.connect_timeout_ms;
    to.command_timeout_ms = opts_.command_timeout_ms;
    try {
      tls_ = std::make_unique<tls_link>(url_.host, url_.port, to);
    } catch (const tls_link_error& ex) {
      unreachable_ = ex.unreachable;
      throw store_error(name_ + ": " + ex.what());
    }
  } else {
    ctx_.reset(redisConnectWithTimeout(url_.host.c_str(), url_.port,
                                       to_timeval(opts_.connect_timeout_ms)));
    if (ctx_ == nullptr)
      throw store_error(name_ + ": cannot allocate a redis context");
    if (ctx_->err != 0) {
      // REDIS_ERR_IO: refused, timed out, unrouted (not a name that does
      // not resolve: REDIS_ERR_OTHER).
      unreachable_ = ctx_->err == REDIS_ERR_IO;
      std::string msg = lower_first(ctx_->errstr);
      ctx_.reset();
      throw store_error(name_ + ": " + msg);
    }
    if (opts_.command_timeout_ms > 0)
      redisSetTimeout(ctx_.get(), to_timeval(opts_.command_timeout_ms));
  }
  broken_ = false;
  if (url_.has_auth) {
    std::vector<std::string> args{"AUTH"};
    if (!url_.user.empty())
      args.push_back(url_.user);
    args.push_back(url_.password);
    auto r = raw(args, "connect");
    if (r->type == REDIS_REPLY_ERROR) {
      broken_ = true;
      note_loading(r.get());
      throw store_error(name_ + ": authentication failed (" + str_of(r.get())
                        + ")");
    }
  }
  {
    auto r = raw({"SELECT", std::to_string(url_.db)}, "connect");
    if (r->type == REDIS_REPLY_ERROR) {
      broken_ = true;
      note_loading(r.get());
      auto msg = str_of(r.get());
      if (msg.rfind("NOAUTH", 0) == 0)
        throw store_error(name_ + ": authentication required (" + msg
                          + "): put user:password into the URL");
      throw store_error(name_ + ": SELECT " + std::to_string(url_.db)
                        + " failed (" + msg + ")");
    }
  }
  load_scripts();
}

void redis_connection::note_loading(const redisReply* r) {
  // Redis answers LOADING while it reads its data after a start: it will
  // serve once it is done.
  if (str_of(r).rfind("LOADING", 0) == 0)
    unreachable_ = true;
}

void redis_connection::load_scripts() {
  std::vector<std::vector<std::string>> cmds;
  for (size_t i = 0; i < sc_count; ++i)
    cmds.push_back({"SCRIPT", "LOAD", script_text(static_cast<script_id>(i))});
  auto replies = pipeline(cmds, "load scripts");
  for (size_t i = 0; i < sc_count; ++i) {
    if (replies[i]->type != REDIS_REPLY_STRING) {
      broken_ = true;
      note_loading(replies[i].get());
      fail("load scripts", str_of(replies[i].get()));
    }
    shas_[i] = str_of(replies[i].get());
  }
}

reply_ptr redis_connection::raw(const std::vector<std::string>& args,
                                const std::string& op, bool repeatable) {
  auto replies = pipeline({args}, op, repeatable);
  return std::move(replies.front());
}

std::vector<reply_ptr>
redis_connection::pipeline(const std::vector<std::vector<std::string>>& cmds,
                           const std::string& op, bool repeatable) {
  // Not while setting a connection up (AUTH, SELECT, SCRIPT LOAD).
  if (connected() && !broken_ && !connecting_ && closed_by_server())
    broken_ = true; // Reconnects below, before anything is sent.
  bool was_up = connected() && !broken_ && !connecting_;
  bool closed = false;
  try {
    return pipeline_once(cmds, op, closed);
  } catch (const store_error&) {
    if (!was_up || !closed || !repeatable)
      throw;
  }
  // The connection closed under the call: once more over a fresh one (a
  // server that is down fails here, with the connect error).
  return pipeline_once(cmds, op, closed);
}

bool redis_connection::closed_by_server() {
  // Nothing is outstanding between calls, so any readable byte or the end
  // of the stream means the server has closed (or is closing) the
  // connection.
  if (tls_ != nullptr)
    return tls_->closed_by_server();
  return peer_closed(ctx_->fd);
}

std::vector<reply_ptr> redis_connection::pipeline_once(
  const std::vector<std::vector<std::string>>& cmds, const std::string& op,
  bool& closed) {
  closed = false;
  if (!connected() || broken_)
    connect();
  if (tls_ != nullptr) {
    std::vector<reply_ptr> out;
    out.reserve(cmds.size());
    try {
      tls_->send(cmds);
      for (size_t i = 0; i < cmds.size(); ++i)
        out.emplace_back(tls_->receive());
    } catch (const tls_link_error& ex) {
      broken_ = true;
      unreachable_ = true;
      closed = ex.closed;
      fail(op, ex.what());
    }
    unreachable_ = false;
    return out;
  }
  command_argv cmd;
  for (auto& args : cmds) {
    cmd.set(args);
    if (redisAppendCommandArgv(ctx_.get(), cmd.argc(), cmd.argv.data(),
                               cmd.lens.data())
        != REDIS_OK) {
      broken_ = true;
      unreachable_ = true;
      closed = ctx_->err == REDIS_ERR_EOF;
      fail(op, lower_first(ctx_->errstr));
    }
  }
  std::vector<reply_ptr> out;
  out.reserve(cmds.size());
  for (size_t i = 0; i < cmds.size(); ++i) {
    void* r = nullptr;
    if (redisGetReply(ctx_.get(), &r) != REDIS_OK || r == nullptr) {
      broken_ = true;
      unreachable_ = true;
      // EOF, or a reset / broken pipe: the server closed the connection
      // (a timeout is not: the server may still be running the command).
      closed = ctx_->err == REDIS_ERR_EOF
               || (ctx_->err == REDIS_ERR_IO
                   && (errno == ECONNRESET || errno == EPIPE
                       || std::strstr(ctx_->errstr, "reset") != nullptr
                       || std::strstr(ctx_->errstr, "roken pipe") != nullptr));
      std::string msg = ctx_->err != 0 ? lower_first(ctx_->errstr) : "no reply";
      if (ctx_->err == REDIS_ERR_IO
          && (msg.find("temporarily unavailable") != std::string::npos
              || msg.find("timed out") != std::string::npos))
        msg = "timeout after " + std::to_string(opts_.command_timeout_ms)
              + " ms (" + msg + ")";
      fail(op, msg);
    }
    out.emplace_back(static_cast<redisReply*>(r));
  }
  unreachable_ = false;
  return out;
}

reply_ptr redis_connection::evalsha(script_id id,
                                    const std::vector<std::string>& argv,
                                    const std::string& op) {
  ensure_connected();
  std::vector<std::string> args{"EVALSHA", shas_[id], "0"};
  args.insert(args.end(), argv.begin(), argv.end());
  bool repeatable = script_answers_rerun(id);
  auto r = raw(args, op, repeatable);
  if (r->type == REDIS_REPLY_ERROR
      && str_of(r.get()).rfind("NOSCRIPT", 0) == 0) {
    // The server lost its script cache: the script did not run.
    load_scripts();
    args[1] = shas_[id];
    r = raw(args, op, repeatable);
  }
  return r;
}

} // namespace onceflow
