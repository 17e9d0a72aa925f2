// The transition against the independent test vectors, against the simple reference on random cases (single rows
// and ragged batches, every CPU backend), and on the edge cases the paper's rule singles out.
#include <apgen/core/transition.hpp>
#include <apgen/edits/edit_set.hpp>

#include <support/backends.hpp>
#include <support/flat_json.hpp>
#include <support/reference_transition.hpp>

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

namespace {

using apgen::testing::reference_bits;
using apgen::testing::reference_transition;

apgen::vocabulary make_vocab(int symbols) {
  std::vector<std::string> s;
  for (int i = 1; i <= symbols; ++i) s.push_back("t" + std::to_string(i));
  return apgen::vocabulary(s); // MASK is id 0, like the vectors
}

struct row_case {
  std::vector<int> x, y, remask, insert, erase, unmask, expected;
};

std::uint8_t bits_of(const row_case& c, std::size_t i) {
  std::uint8_t b = 0;
  if (c.unmask.empty() || c.unmask[i]) b |= apgen::op_unmask;
  if (c.remask[i]) b |= apgen::op_remask;
  if (c.insert[i]) b |= apgen::op_insert;
  if (c.erase[i]) b |= apgen::op_erase;
  return b;
}

// Packs the cases as one ragged batch, applies the transition and returns each row.
template <class Backend>
std::vector<std::vector<int>> run_batch(const apgen::vocabulary& v, const std::vector<row_case>& cases,
                                        std::size_t slack = 0) {
  std::vector<std::size_t> caps;
  for (auto& c : cases) caps.push_back(std::max<std::size_t>(1, 2 * c.x.size() + slack));
  apgen::canvas cv(v, caps);
  for (std::size_t r = 0; r < cases.size(); ++r) cv.assign(r, cases[r].x);
  apgen::step_plan plan;
  plan.reshape(cv, false);
  for (std::size_t r = 0; r < cases.size(); ++r)
    for (std::size_t i = 0; i < cases[r].x.size(); ++i) {
      plan.tokens_of(r)[i] = cases[r].y[i];
      plan.ops_of(r)[i] = bits_of(cases[r], i);
    }
  std::vector<apgen::row_delta> deltas(cases.size());
  apgen::apply_transition<Backend>(cv, plan, deltas);
  std::vector<std::vector<int>> out;
  for (std::size_t r = 0; r < cases.size(); ++r) {
    auto row = cv.row(r);
    out.emplace_back(row.begin(), row.end());
    // Length changes by inserts minus deleted masks.
    const auto expect_len = static_cast<long long>(cases[r].x.size()) + deltas[r].inserted - deltas[r].erased;
    CHECK(static_cast<long long>(row.size()) == expect_len);
  }
  return out;
}

row_case random_case(std::mt19937_64& g, int vocab, std::size_t max_len) {
  std::uniform_int_distribution<std::size_t> len_d(0, max_len);
  std::uniform_int_distribution<int> tok(1, vocab - 1);
  std::bernoulli_distribution coin(0.5), mask_coin(0.4);
  // Bias some cases towards all-ones / all-zeros bit patterns so extreme patterns are exercised.
  std::uniform_real_distribution<double> pr(0.0, 1.0);
  const double p_bits = pr(g) < 0.2 ? (coin(g) ? 0.95 : 0.05) : 0.3;
  std::bernoulli_distribution bit(p_bits);
  row_case c;
  const std::size_t n = len_d(g);
  for (std::size_t i = 0; i < n; ++i) {
    c.x.push_back(mask_coin(g) ? 0 : tok(g));
    c.y.push_back(tok(g));
    c.remask.push_back(bit(g));
    c.insert.push_back(bit(g));
    c.erase.push_back(bit(g));
  }
  return c;
}

} // namespace

TEST_SUITE("transition") {

  TEST_CASE_TEMPLATE("matches the independent test vectors, one row at a time and as one ragged batch", Backend,
                     APGEN_TEST_CPU_BACKENDS) {
    const auto rows = apgen::testing::read_jsonl(std::string(APGEN_TEST_DATA_DIR) + "/ap_mdm_transition.jsonl");
    REQUIRE(rows.size() > 100);
    const auto v = make_vocab(40);
    std::vector<row_case> cases;
    for (auto& o : rows) {
      REQUIRE(o.at("mask").at(0) == 0);
      row_case c{apgen::testing::as_ints(o.at("x")),      apgen::testing::as_ints(o.at("y")),
                 apgen::testing::as_ints(o.at("remask")), apgen::testing::as_ints(o.at("insert")),
                 apgen::testing::as_ints(o.at("delete")), {},
                 apgen::testing::as_ints(o.at("next"))};
      cases.push_back(c);
    }
    for (std::size_t i = 0; i < cases.size(); ++i) {
      CAPTURE(i);
      auto single = run_batch<Backend>(v, {cases[i]});
      CHECK(single[0] == cases[i].expected);
      // The simple reference agrees with the vectors too, so it is a fair oracle for the random cases below.
      CHECK(reference_transition(cases[i].x, cases[i].y, {cases[i].remask, cases[i].insert, cases[i].erase}, 0) ==
            cases[i].expected);
    }
    // All lines in ragged batches of 1..64 rows.
    std::size_t at = 0, width = 1;
    while (at < cases.size()) {
      std::vector<row_case> batch(cases.begin() + static_cast<std::ptrdiff_t>(at),
                                  cases.begin() + static_cast<std::ptrdiff_t>(std::min(cases.size(), at + width)));
      auto got = run_batch<Backend>(v, batch);
      for (std::size_t r = 0; r < batch.size(); ++r) CHECK(got[r] == batch[r].expected);
      at += width;
      width = width % 64 + 1;
    }
  }

  TEST_CASE_TEMPLATE("agrees with the reference on 12,000 random rows in random ragged batches", Backend,
                     APGEN_TEST_CPU_BACKENDS) {
    std::mt19937_64 g(20261127);
    const auto v = make_vocab(12);
    std::size_t checked = 0;
    std::uniform_int_distribution<std::size_t> batch_d(1, 48), maxlen_d(0, 70);
    while (checked < 12000) {
      const std::size_t b = batch_d(g), max_len = maxlen_d(g);
      std::vector<row_case> batch;
      for (std::size_t r = 0; r < b; ++r) {
        auto c = random_case(g, static_cast<int>(v.size()), max_len);
        // Half the cases restrict unmasking to a random subset (the MDM form of the rule).
        if (g() % 2) {
          for (std::size_t i = 0; i < c.x.size(); ++i) c.unmask.push_back(static_cast<int>(g() % 2));
        }
        c.expected = reference_transition(c.x, c.y, {c.remask, c.insert, c.erase}, 0, c.unmask);
        batch.push_back(c);
      }
      auto got = run_batch<Backend>(v, batch);
      for (std::size_t r = 0; r < b; ++r) REQUIRE(got[r] == batch[r].expected);
      checked += b;
    }
  }

  TEST_CASE("edge cases by hand") {
    const auto v = make_vocab(9);
    const int M = 0;
    auto one = [&](row_case c) { return run_batch<apgen::backends::serial>(v, {c})[0]; };
    SUBCASE("delete and insert on one MASK: dropped, the insert ignored") {
      CHECK(one({{M}, {3}, {0}, {1}, {1}, {}, {}}).empty());
    }
    SUBCASE("delete on a decoded token does nothing; its insert still acts") {
      CHECK(one({{5}, {3}, {0}, {1}, {1}, {}, {}}) == std::vector<int>{5, M});
    }
    SUBCASE("remask of a MASK keeps a MASK") {
      CHECK(one({{M}, {3}, {1}, {0}, {0}, {}, {}}) == std::vector<int>{M});
    }
    SUBCASE("remask wins over unmask") {
      CHECK(one({{M, 4}, {3, 3}, {1, 1}, {0, 0}, {0, 0}, {}, {}}) == std::vector<int>{M, M});
    }
    SUBCASE("everything deleted") {
      CHECK(one({{M, M, M}, {1, 2, 3}, {0, 0, 0}, {1, 0, 1}, {1, 1, 1}, {}, {}}).empty());
    }
    SUBCASE("insert at the last position") {
      CHECK(one({{4, 5}, {1, 1}, {0, 0}, {0, 1}, {0, 0}, {}, {}}) == std::vector<int>{4, 5, M});
    }
    SUBCASE("empty row") {
      CHECK(one({{}, {}, {}, {}, {}, {}, {}}).empty());
    }
  }

  TEST_CASE("edit masks restrict the rule") {
    const auto v = make_vocab(9);
    apgen::canvas cv(v, 1, 8);
    cv.assign(0, {0, 4, 0, 5});
    apgen::step_plan plan;
    plan.reshape(cv, false);
    const std::uint8_t all = apgen::op_unmask | apgen::op_remask | apgen::op_insert | apgen::op_erase;
    for (std::size_t i = 0; i < 4; ++i) {
      plan.ops[i] = all;
      plan.token[i] = 7;
    }
    plan.ops[0] = apgen::op_unmask; // MASK at 0: unmask only
    plan.ops[1] = apgen::op_remask | apgen::op_insert;
    std::vector<apgen::row_delta> d(1);
    SUBCASE("mdm: only unmask") {
      apgen::apply_transition<apgen::backends::serial>(cv, plan, d, {apgen::edits::mdm::mask});
      CHECK(std::vector<int>(cv.row(0).begin(), cv.row(0).end()) == std::vector<int>{7, 4, 7, 5});
    }
    SUBCASE("arm append: insert only after the last position") {
      apgen::apply_transition<apgen::backends::serial>(cv, plan, d, {apgen::edits::arm_append::mask});
      CHECK(std::vector<int>(cv.row(0).begin(), cv.row(0).end()) == std::vector<int>{7, 4, 7, 5, 0});
    }
    SUBCASE("locked positions ignore remask") {
      cv.set_locked(0, 1, true);
      apgen::apply_transition<apgen::backends::serial>(cv, plan, d, {apgen::edits::any_process::mask});
      // pos1 is locked: remask ignored, insert kept; pos2 MASK with delete: dropped; pos3 remask
      CHECK(std::vector<int>(cv.row(0).begin(), cv.row(0).end()) == std::vector<int>{7, 4, 0, 0, 0});
    }
  }

  TEST_CASE("a row that would outgrow its capacity") {
    const auto v = make_vocab(9);
    apgen::canvas cv(v, std::vector<std::size_t>{4, 3});
    cv.assign(0, {1, 2});
    cv.assign(1, {3, 4, 5});
    apgen::step_plan plan;
    plan.reshape(cv, false);
    plan.ops[0] = apgen::op_insert;               // row 0: 2 -> 3, fits
    plan.ops[2] = plan.ops[3] = apgen::op_insert; // row 1: 3 -> 5 > 3
    std::vector<apgen::row_delta> d(2);
    SUBCASE("throws by default, naming the row, and changes nothing") {
      CHECK_THROWS_WITH_AS(apgen::apply_transition<apgen::backends::serial>(cv, plan, d), doctest::Contains("row 1"),
                           apgen::capacity_exceeded);
      CHECK(cv.length(0) == 2);
      CHECK(cv.length(1) == 3);
    }
    SUBCASE("stop_row leaves that row alone and reports it") {
      apgen::apply_transition<apgen::backends::serial>(
          cv, plan, d, {apgen::edits::any_process::mask, apgen::overflow_policy::stop_row});
      CHECK(cv.length(0) == 3);
      CHECK(cv.length(1) == 3);
      CHECK(d[1].overflowed);
      CHECK_FALSE(d[0].overflowed);
    }
  }

  TEST_CASE("an out-of-range chosen token is rejected before anything changes") {
    const auto v = make_vocab(3);
    apgen::canvas cv(v, 2, 4);
    cv.assign(0, {0});
    cv.assign(1, {0});
    apgen::step_plan plan;
    plan.reshape(cv, false);
    plan.ops[0] = plan.ops[1] = apgen::op_unmask;
    plan.token[0] = 1;
    plan.token[1] = 99;
    std::vector<apgen::row_delta> d(2);
    CHECK_THROWS_AS(apgen::apply_transition<apgen::backends::omp>(cv, plan, d), apgen::invalid_token);
    CHECK(cv.row(0)[0] == 0);
  }

  TEST_CASE("traces record each applied edit in order") {
    const auto v = make_vocab(9);
    apgen::canvas cv(v, 1, 8);
    cv.assign(0, {0, 4, 0});
    apgen::step_plan plan;
    plan.reshape(cv, false);
    plan.ops = {apgen::op_unmask, apgen::op_remask | apgen::op_insert, apgen::op_erase};
    plan.token = {6, 0, 0};
    plan.score = {0.9f, 0.f, 0.f};
    std::vector<apgen::row_delta> d(1);
    apgen::op_trace trace;
    apgen::apply_transition<apgen::backends::serial>(
        cv, plan, d, {apgen::edits::any_process::mask, apgen::overflow_policy::throw_error, 7}, {}, &trace);
    REQUIRE(trace.records().size() == 4);
    CHECK(trace.records()[0].op == apgen::op_unmask);
    CHECK(trace.records()[0].new_token == 6);
    CHECK(trace.records()[0].step == 7);
    CHECK(trace.records()[1].op == apgen::op_remask);
    CHECK(trace.records()[2].op == apgen::op_insert);
    CHECK(trace.records()[2].position == 1);
    CHECK(trace.records()[3].op == apgen::op_erase);
    CHECK(std::vector<int>(cv.row(0).begin(), cv.row(0).end()) == std::vector<int>{6, 0, 0});
  }

  TEST_CASE_TEMPLATE("an insert and a delete that cancel out leave the row unchanged, and say so", Backend,
                     APGEN_TEST_CPU_BACKENDS) {
    // [a, MASK]: insert after a, delete the MASK. The new MASK takes the old one's place: the same sequence.
    const auto v = make_vocab(9);
    const int M = 0;
    apgen::canvas c(v, 2, 8);
    c.assign(0, {4, M});
    c.assign(1, {4, M});
    apgen::step_plan plan;
    plan.reshape(c, false);
    plan.ops[0] = apgen::op_insert;
    plan.ops[1] = apgen::op_erase;
    plan.ops[2] = apgen::op_insert; // row 1: the insert alone, which does change the row
    std::vector<apgen::row_delta> deltas(2);
    apgen::apply_transition<Backend>(c, plan, deltas);
    CHECK(std::vector<int>(c.row(0).begin(), c.row(0).end()) == std::vector<int>{4, M});
    CHECK(deltas[0].inserted == 1);
    CHECK(deltas[0].erased == 1);
    CHECK_FALSE(deltas[0].changed());
    CHECK(deltas[1].changed());
    CHECK(std::vector<int>(c.row(1).begin(), c.row(1).end()) == std::vector<int>{4, M, M});
    // Summed over steps, a row changed if some step changed it.
    apgen::row_delta total = deltas[0];
    CHECK_FALSE(total.changed());
    total += deltas[1];
    CHECK(total.changed());
  }

  TEST_CASE("a plan whose buffers do not match its offsets is refused, naming the buffer") {
    const auto v = make_vocab(9);
    apgen::canvas c(v, 2, 8);
    c.assign(0, {1, 0, 2});
    c.assign(1, {0, 3});
    std::vector<apgen::row_delta> deltas(2);
    apgen::step_plan plan;
    plan.reshape(c, false);
    SUBCASE("offsets set, every buffer empty") {
      plan.ops.clear();
      plan.token.clear();
      plan.score.clear();
      CHECK_THROWS_WITH_AS(apgen::apply_transition<apgen::backends::serial>(c, plan, deltas),
                           doctest::Contains("plan.ops has 0 entries, expected 5"), apgen::shape_mismatch);
    }
    SUBCASE("ops one short") {
      plan.ops.pop_back();
      CHECK_THROWS_WITH_AS(apgen::apply_transition<apgen::backends::omp>(c, plan, deltas),
                           doctest::Contains("plan.ops has 4 entries"), apgen::shape_mismatch);
    }
    SUBCASE("tokens or scores short") {
      plan.token.resize(2);
      CHECK_THROWS_WITH_AS(apgen::apply_transition<apgen::backends::simd>(c, plan, deltas),
                           doctest::Contains("plan.token"), apgen::shape_mismatch);
      plan.reshape(c, false);
      plan.score.clear();
      CHECK_THROWS_WITH_AS(apgen::apply_transition<apgen::backends::simd>(c, plan, deltas),
                           doctest::Contains("plan.score"), apgen::shape_mismatch);
    }
    SUBCASE("control values of the wrong count") {
      plan.control.assign(7, 0.0f);
      CHECK_THROWS_WITH_AS(apgen::apply_transition<apgen::backends::serial>(c, plan, deltas),
                           doctest::Contains("plan.control"), apgen::shape_mismatch);
    }
    SUBCASE("offsets that do not start at 0") {
      for (auto& o : plan.offsets) o += 1;
      plan.ops.resize(6);
      CHECK_THROWS_AS(apgen::apply_transition<apgen::backends::serial>(c, plan, deltas), apgen::shape_mismatch);
    }
    // Nothing changed.
    CHECK(std::vector<int>(c.row(0).begin(), c.row(0).end()) == std::vector<int>{1, 0, 2});
  }

} // TEST_SUITE
