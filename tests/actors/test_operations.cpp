#include "tests/actors/fixture.hpp"
#include <caf/deep_to_string.hpp>
#include <iostream>

using namespace onceflow;
using namespace onceflow::test;
using namespace std::chrono_literals;

BOOST_FIXTURE_TEST_SUITE(operations, fixture)

BOOST_AUTO_TEST_CASE(dump_status) {
  add_group("g", 1, [](const event& ev, uint32_t, size_t) {
    return ev.type == "bad" ? fail(outcome::permanent, "x") : ok_effect();
  });
  start();
  publish({make_event("e1", "t"), make_event("e2", "bad")});
  advance(10ms);
  auto dump = [&](auto hdl, const char* name) {
    self->send(hdl, atom::status_v);
    run();
    self->receive([&](caf::settings& s) {
      std::cout << name << ": " << caf::deep_to_string(s) << "\n";
    });
  };
  dump(n.store, "store");
  dump(n.broadcaster, "broadcaster");
  dump(n.dedup, "dedup");
  dump(n.retry_timer, "retry_timer");
  dump(n.dlq, "dlq");
}

BOOST_AUTO_TEST_SUITE_END()
