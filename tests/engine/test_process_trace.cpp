// The process trace: a generation's starting rows, plans and applied bits replay through the transition to the
// same rows; a trace that was altered does not; teachers' records are the trace's.
#include <apgen/apgen.hpp>
#include <apgen/engine/process_trace.hpp>
#include <apgen/train/teacher.hpp>

#include "support/models.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace {

apgen::vocabulary small_vocab() {
  return apgen::vocabulary({"a", "b", "c", "d", "e"});
} // MASK 0, ids 1..5

// Three rows under a model whose controls fire often: every operation appears within a few steps, and the third
// row outgrows its capacity (stop_row: that step is recorded as overflowed and applies nothing).
struct traced_run {
  apgen::vocabulary v = small_vocab();
  apgen::canvas c{v, std::vector<std::size_t>{12, 12, 5}};
  apgen::process_trace trace;
  apgen::generation_result result;
  traced_run() {
    c.assign(0, {1, 0, 0, 2, 0});
    c.assign(1, {0, 0, 0});
    c.assign(2, {3, 0, 0, 0, 4});
    c.set_row_key(1, 77);
    apgen::testing::hashed_model model{.vocab = v.size(), .controls = true, .control_bias = -0.5f};
    auto gen = apgen::make_generator(model, apgen::schedules::any_process<>(),
                                     {.seed = 3, .overflow = apgen::overflow_policy::stop_row, .max_steps = 8});
    trace.start(c);
    result = gen.generate(c, trace);
  }
};

} // namespace

TEST_SUITE("engine") {

  TEST_CASE("process trace: every recorded step replays through the transition to the recorded rows") {
    traced_run run;
    const auto steps = run.trace.steps();
    REQUIRE(!steps.empty());
    // The run exercised every operation (else the replay below would prove little).
    std::uint8_t seen = 0;
    bool overflowed = false;
    for (const auto& s : steps) {
      for (auto b : s.applied) seen |= b;
      overflowed = overflowed || s.overflowed;
      CHECK(s.tokens.size() == s.applied.size());
      CHECK(s.requested.size() == s.applied.size());
    }
    CHECK((seen & apgen::op_unmask) != 0);
    CHECK((seen & apgen::op_remask) != 0);
    CHECK((seen & apgen::op_insert) != 0);
    CHECK((seen & apgen::op_erase) != 0);
    CHECK(overflowed);
    CHECK(run.trace.row_key(1) == 77);
    CHECK(run.trace.start_row(1) == std::vector<apgen::token_id>{0, 0, 0});
    // Each row's last recorded state is where the generation left it.
    for (std::size_t r = 0; r < run.c.rows(); ++r) {
      const apgen::traced_row_step* last = nullptr;
      for (const auto& s : steps)
        if (s.row == r) last = &s;
      REQUIRE(last);
      CHECK(std::vector<apgen::token_id>(run.c.row(r).begin(), run.c.row(r).end()) == last->after);
    }
    const auto summary = apgen::replay(run.trace, run.v);
    CHECK(summary.row_steps == steps.size());
    CHECK(summary.steps == run.result.steps);
  }

  TEST_CASE("process trace: an altered step does not replay, and the error names it") {
    traced_run run;
    const auto steps = run.trace.steps();
    // Rebuild the trace from its parts with one applied bit flipped in a step that changes something.
    std::size_t victim = steps.size();
    for (std::size_t k = 0; k < steps.size() && victim == steps.size(); ++k)
      if (!steps[k].overflowed && steps[k].row == 0)
        for (auto b : steps[k].applied)
          if (b & apgen::op_insert) victim = k;
    REQUIRE(victim < steps.size());
    apgen::process_trace copy;
    std::vector<std::vector<apgen::token_id>> rows;
    std::vector<std::size_t> caps;
    std::vector<std::uint64_t> keys;
    for (std::size_t r = 0; r < run.trace.rows(); ++r) {
      rows.push_back(run.trace.start_row(r));
      caps.push_back(run.trace.capacity(r));
      keys.push_back(run.trace.row_key(r));
    }
    copy.start(rows, caps, keys, run.trace.mask(), run.trace.vocab_size());
    for (std::size_t k = 0; k < steps.size(); ++k) {
      apgen::traced_row_step s = steps[k];
      if (k == victim)
        for (auto& b : s.applied)
          if (b & apgen::op_insert) {
            b = static_cast<std::uint8_t>(b & ~apgen::op_insert);
            break;
          }
      copy.append(std::move(s));
    }
    const std::string where = "replay: step " + std::to_string(steps[victim].step) + ", row 0 does not replay";
    CHECK_THROWS_WITH_AS(apgen::replay(copy, run.v), doctest::Contains(where.c_str()), apgen::error);
    // The same parts unaltered replay.
    apgen::process_trace same;
    same.start(rows, caps, keys, run.trace.mask(), run.trace.vocab_size());
    for (const auto& s : steps) same.append(s);
    CHECK(apgen::replay(same, run.v).row_steps == steps.size());
  }

  TEST_CASE("process trace: replay refuses another vocabulary and malformed steps") {
    traced_run run;
    const apgen::vocabulary other({"a", "b"});
    CHECK_THROWS_WITH_AS(apgen::replay(run.trace, other), doctest::Contains("the trace was made with 6 tokens"),
                         apgen::shape_mismatch);
    apgen::process_trace bad;
    bad.start({{1, 0}}, {4}, {0}, 0, run.v.size());
    CHECK_THROWS_AS(bad.append(apgen::traced_row_step{.row = 3}), apgen::invalid_argument);
    bad.append(apgen::traced_row_step{.step = 0, .row = 0, .tokens = {1}, .applied = {0}, .after = {1, 0}});
    CHECK_THROWS_WITH_AS(apgen::replay(bad, run.v), doctest::Contains("for a row of 2"), apgen::shape_mismatch);
  }

  TEST_CASE("process trace: a teacher's records are the trace's row steps, labelled by the applied bits") {
    traced_run run;
    std::vector<apgen::train::transition_record> from_trace;
    apgen::train::trace_records(run.trace,
                                [&](apgen::train::transition_record&& r) { from_trace.push_back(std::move(r)); });
    // Running the same generation through record_trajectories gives the same records.
    traced_run again;
    apgen::canvas c(again.v, std::vector<std::size_t>{12, 12, 5});
    c.assign(0, {1, 0, 0, 2, 0});
    c.assign(1, {0, 0, 0});
    c.assign(2, {3, 0, 0, 0, 4});
    c.set_row_key(1, 77);
    apgen::testing::hashed_model model{.vocab = again.v.size(), .controls = true, .control_bias = -0.5f};
    auto gen = apgen::make_generator(model, apgen::schedules::any_process<>(),
                                     {.seed = 3, .overflow = apgen::overflow_policy::stop_row, .max_steps = 8});
    const auto records = apgen::train::record_trajectories(gen, c);
    CHECK(records == from_trace);
    // Overflowed and unchanged steps are left out; every other row step is one record.
    std::size_t kept = 0;
    std::vector<std::vector<apgen::token_id>> now;
    for (std::size_t r = 0; r < run.trace.rows(); ++r) now.push_back(run.trace.start_row(r));
    for (const auto& s : run.trace.steps()) {
      if (!s.overflowed && s.after != now[s.row]) ++kept;
      now[s.row] = s.after;
    }
    CHECK(records.size() == kept);
    CHECK(kept > 0);
  }

} // TEST_SUITE
