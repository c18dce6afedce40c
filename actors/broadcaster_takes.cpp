#include "actors/broadcaster_state.hpp"
#include "actors/timeouts.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

// The take marks of the due retries the node holds: a take of the retry
// schedule is a lease (see retry_port::take_due), renewed while the node
// holds the delivery and given back when it will not run it.

namespace onceflow::detail {

void renew_takes(bc_pointer self) {
  auto& st = self->state;
  auto now = now_of(self);
  std::vector<taken_pair> pairs;
  std::vector<size_t> due;
  for (size_t gi = 0; gi < st.groups.size(); ++gi) {
    auto& g = st.groups[gi];
    // Every third of the lease: should a renewal fail, the next janitor
    // rounds try again before the marks lapse.
    if (g.takes_renewed_at >= 0
        && now - g.takes_renewed_at < g.cfg.lease_ttl / 3)
      continue;
    g.takes_renewed_at = now;
    due.push_back(gi);
    for (auto seq : g.book.taken())
      pairs.push_back({g.cfg.name, seq});
  }
  if (pairs.empty())
    return;
  auto n = pairs.size();
  self->request(st.store, store_timeout, atom::renew_v, std::move(pairs), now)
    .then(
      [self](uint64_t renewed) {
        auto& st = self->state;
        st.takes_renewed += renewed;
        if (st.take_renew_failing) {
          st.take_renew_failing = false;
          spdlog::info("broadcaster: renewing take marks works again");
        }
      },
      [self, due, n](caf::error& err) {
        auto& st = self->state;
        ++st.take_renew_failures;
        // The next janitor round tries again.
        for (auto gi : due)
          st.groups[gi].takes_renewed_at = -1;
        if (!st.take_renew_failing)
          spdlog::warn("broadcaster: renewing the take marks of {} due "
                       "retries failed (trying again each janitor round; "
                       "a mark that lapses lets another node take its "
                       "retry): {}",
                       n, render(err));
        st.take_renew_failing = true;
        check_lost_group(self, due.front(), err);
      });
}

bool release_takes(bc_pointer self, bool all) {
  auto& st = self->state;
  std::vector<taken_pair> pairs;
  for (auto& g : st.groups) {
    auto seqs = all ? g.book.taken() : g.book.drop_taken();
    if (all)
      g.book.drop_taken();
    for (auto seq : seqs)
      pairs.push_back({g.cfg.name, seq});
  }
  if (pairs.empty())
    return false;
  ++st.releasing;
  auto n = pairs.size();
  self->request(st.store, store_timeout, atom::release_v, std::move(pairs))
    .then(
      [self, n](uint64_t released) {
        auto& st = self->state;
        --st.releasing;
        st.takes_released += released;
        spdlog::info("broadcaster: gave back {} of {} due retries taken and "
                     "not run here (the others were settled or taken "
                     "elsewhere)",
                     released, n);
        check_drained(self);
      },
      [self, n](caf::error& err) {
        auto& st = self->state;
        --st.releasing;
        spdlog::warn("broadcaster: giving back {} due retries taken and not "
                     "run here failed (their take marks lapse after the "
                     "lease instead): {}",
                     n, render(err));
        check_drained(self);
      });
  return true;
}

} // namespace onceflow::detail
