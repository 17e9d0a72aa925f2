// Each schedule's selection rule against an obviously-correct reference on random plans: which positions it
// unmasks (or remasks) given the scores the token pass produced.
#include <apgen/schedules/any_process.hpp>
#include <apgen/schedules/autoregressive.hpp>
#include <apgen/schedules/blockwise.hpp>
#include <apgen/schedules/masked_diffusion.hpp>
#include <apgen/schedules/polish.hpp>
#include <apgen/schedules/threshold.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace {

apgen::vocabulary vocab8() {
  return apgen::vocabulary({"a", "b", "c", "d", "e", "f", "g"}, apgen::special_names{"[MASK]", "", "", "[EOS]"});
}

struct fixture {
  apgen::vocabulary v = vocab8();
  apgen::canvas c;
  apgen::step_plan plan;
  apgen::denoiser_output out;
  std::vector<apgen::row_progress> progress;
  std::mt19937 g;

  explicit fixture(std::size_t rows, std::uint32_t seed) : c(v, rows, 64), g(seed) {
    std::uniform_int_distribution<int> len(0, 40), tok(2, 7);
    std::bernoulli_distribution masked(0.6);
    for (std::size_t r = 0; r < rows; ++r) {
      std::vector<int> t(static_cast<std::size_t>(len(g)));
      for (auto& x : t) x = masked(g) ? 0 : tok(g);
      c.assign(r, t);
    }
    plan.reshape(c, false);
    out.reshape(c, apgen::heads::tokens_and_controls);
    progress.assign(rows, {});
  }
  // Scores as the token pass would leave them: random, with deliberate ties.
  void score_marked() {
    std::uniform_int_distribution<int> s(0, 20);
    for (std::size_t k = 0; k < plan.score.size(); ++k) plan.score[k] = static_cast<float>(s(g)) / 20.0f;
  }
  apgen::step_context ctx() const { return {1, 0, {}, progress}; }
  std::vector<std::size_t> unmasked(std::size_t r) {
    std::vector<std::size_t> out_pos;
    for (std::size_t i = 0; i < plan.row_length(r); ++i)
      if (plan.ops_of(r)[i] & apgen::op_unmask) out_pos.push_back(i);
    return out_pos;
  }
};

// The reference: sort masks by (score desc, position asc) and take k.
std::vector<std::size_t> reference_top_k(const apgen::canvas& c, const apgen::step_plan& p, std::size_t r,
                                         std::size_t k) {
  std::vector<std::size_t> masks;
  for (std::size_t i = 0; i < c.length(r); ++i)
    if (c.row(r)[i] == c.mask()) masks.push_back(i);
  std::stable_sort(masks.begin(), masks.end(), [&](auto a, auto b) { return p.scores_of(r)[a] > p.scores_of(r)[b]; });
  masks.resize(std::min(k, masks.size()));
  std::sort(masks.begin(), masks.end());
  return masks;
}

} // namespace

TEST_SUITE("schedule selection rules") {

  TEST_CASE("masked diffusion unmasks the k best-scored masks, ties to the left, on 2,000 random rows") {
    for (std::uint32_t seed = 0; seed < 50; ++seed) {
      fixture f(40, seed);
      const std::size_t k = 1 + seed % 5;
      apgen::schedules::masked_diffusion<> s(apgen::sampling::confidence_measure::margin,
                                             apgen::schedules::unmask_count::fixed_k(k));
      s.reset(f.c);
      s.mark(f.c, f.ctx(), f.plan);
      f.score_marked();
      s.select(f.c, f.out, f.ctx(), f.plan);
      for (std::size_t r = 0; r < f.c.rows(); ++r) CHECK(f.unmasked(r) == reference_top_k(f.c, f.plan, r, k));
    }
  }

  TEST_CASE("count schedules: fixed k, linear and cosine finish in the promised number of steps") {
    using apgen::schedules::unmask_count;
    for (std::uint32_t n : {1u, 7u, 64u, 81u}) {
      for (std::size_t steps : {1u, 4u, 10u}) {
        for (auto rule : {unmask_count::linear(steps), unmask_count::cosine(steps)}) {
          std::size_t masks = n, taken = 0;
          apgen::row_progress p{0, n};
          while (masks) {
            const auto k = rule.how_many(masks, p);
            REQUIRE(k >= 1);
            masks -= std::min(k, masks);
            ++p.steps;
            ++taken;
          }
          CHECK(taken == std::min<std::size_t>(steps, n));
        }
        std::size_t masks = n, taken = 0;
        while (masks) masks -= unmask_count::fixed_k(3).how_many(masks, {}), ++taken;
        CHECK(taken == (n + 2) / 3);
      }
    }
    // Cosine front-loads few tokens: its first step unmasks no more than linear's.
    CHECK(unmask_count::cosine(10).how_many(100, {0, 100}) <= unmask_count::linear(10).how_many(100, {0, 100}));
    CHECK_THROWS_AS(unmask_count::fixed_k(0), apgen::invalid_argument);
  }

  TEST_CASE("threshold commits every mask above tau, and the best one when none is") {
    for (std::uint32_t seed = 0; seed < 30; ++seed) {
      fixture f(30, seed);
      apgen::schedules::threshold<> s(0.7);
      s.mark(f.c, f.ctx(), f.plan);
      f.score_marked();
      s.select(f.c, f.out, f.ctx(), f.plan);
      for (std::size_t r = 0; r < f.c.rows(); ++r) {
        std::vector<std::size_t> expect;
        for (std::size_t i = 0; i < f.c.length(r); ++i)
          if (f.c.row(r)[i] == 0 && f.plan.scores_of(r)[i] > 0.7f) expect.push_back(i);
        if (expect.empty()) expect = reference_top_k(f.c, f.plan, r, 1);
        CHECK(f.unmasked(r) == expect);
      }
    }
  }

  TEST_CASE("blockwise never unmasks outside the leftmost block that holds a mask") {
    for (std::uint32_t seed = 0; seed < 30; ++seed) {
      fixture f(30, seed);
      apgen::schedules::blockwise<> s(8, 3);
      s.reset(f.c);
      s.mark(f.c, f.ctx(), f.plan);
      f.score_marked();
      s.select(f.c, f.out, f.ctx(), f.plan);
      for (std::size_t r = 0; r < f.c.rows(); ++r) {
        const auto row = f.c.row(r);
        const auto first = std::find(row.begin(), row.end(), 0);
        if (first == row.end()) {
          CHECK(f.unmasked(r).empty());
          continue;
        }
        const std::size_t block = static_cast<std::size_t>(first - row.begin()) / 8;
        std::vector<std::size_t> expect;
        {
          std::vector<std::size_t> masks;
          for (std::size_t i = block * 8; i < std::min(row.size(), block * 8 + 8); ++i)
            if (row[i] == 0) masks.push_back(i);
          std::stable_sort(masks.begin(), masks.end(),
                           [&](auto a, auto b) { return f.plan.scores_of(r)[a] > f.plan.scores_of(r)[b]; });
          masks.resize(std::min<std::size_t>(3, masks.size()));
          std::sort(masks.begin(), masks.end());
          expect = masks;
        }
        CHECK(f.unmasked(r) == expect);
      }
    }
  }

  TEST_CASE("autoregressive unmasks the leftmost mask and grows only after the last position") {
    fixture f(20, 3);
    apgen::schedules::autoregressive<> s;
    s.mark(f.c, f.ctx(), f.plan);
    s.select(f.c, f.out, f.ctx(), f.plan);
    for (std::size_t r = 0; r < f.c.rows(); ++r) {
      const auto row = f.c.row(r);
      const auto first = std::find(row.begin(), row.end(), 0);
      if (first == row.end()) {
        CHECK(f.unmasked(r).empty());
        continue;
      }
      const auto i = static_cast<std::size_t>(first - row.begin());
      CHECK(f.unmasked(r) == std::vector<std::size_t>{i});
      const bool grows = (f.plan.ops_of(r)[i] & apgen::op_insert) != 0;
      CHECK(grows == (i + 1 == row.size() && f.plan.tokens_of(r)[i] != f.c.eos()));
    }
  }

  TEST_CASE("any_process: a control fires strictly above the threshold; every MASK is marked for unmasking") {
    for (double tau : {0.5, 0.2, 0.9}) {
      fixture f(25, 11);
      std::uniform_real_distribution<float> d(-4, 4);
      for (auto& x : f.out.control_data()) x = d(f.g);
      apgen::schedules::any_process<> s(tau);
      s.mark(f.c, f.ctx(), f.plan);
      s.select(f.c, f.out, f.ctx(), f.plan);
      for (std::size_t r = 0; r < f.c.rows(); ++r)
        for (std::size_t i = 0; i < f.c.length(r); ++i) {
          const auto ctl = f.out.controls(r);
          auto fires = [&](std::size_t k) { return 1.0 / (1.0 + std::exp(-static_cast<double>(ctl(i, k)))) > tau; };
          const std::uint8_t b = f.plan.ops_of(r)[i];
          CHECK(((b & apgen::op_remask) != 0) == fires(0));
          CHECK(((b & apgen::op_insert) != 0) == fires(1));
          CHECK(((b & apgen::op_erase) != 0) == fires(2));
          CHECK(((b & apgen::op_unmask) != 0) == (f.c.row(r)[i] == 0));
        }
    }
    CHECK_THROWS_AS(apgen::schedules::any_process<>(1.0), apgen::invalid_argument);
  }

  TEST_CASE("any_process rejects NaN control scores, naming the position") {
    fixture f(2, 1);
    f.c.assign(0, {2, 3});
    f.plan.reshape(f.c, false);
    f.out.reshape(f.c, apgen::heads::tokens_and_controls);
    f.out.controls(0)(1, 2) = std::nanf("");
    apgen::schedules::any_process<> s;
    CHECK_THROWS_WITH_AS(s.select(f.c, f.out, f.ctx(), f.plan), doctest::Contains("position 1"), apgen::invalid_score);
  }

  TEST_CASE("polish remasks the least likely unlocked tokens of a finished row, within its budget") {
    apgen::vocabulary v = vocab8();
    apgen::canvas c(v, 1, 16);
    c.assign(0, {2, 3, 4, 5, 6, 7}, 1); // first position locked
    apgen::schedules::with_polish<apgen::schedules::masked_diffusion<>> s(apgen::schedules::masked_diffusion<>{},
                                                                          {0.5, 2, 3});
    s.reset(c);
    std::vector<apgen::row_progress> progress(1);
    const apgen::step_context ctx{0, 0, {}, progress};
    apgen::denoiser_output out;
    out.reshape(c, apgen::heads::tokens_only);
    for (int round = 0; round < 3; ++round) {
      apgen::step_plan plan;
      plan.reshape(c, false);
      s.mark(c, ctx, plan);
      CHECK(plan.want[0] == apgen::score_nothing); // locked
      plan.score = {0.1f, 0.3f, 0.2f, 0.9f, 0.05f, 0.6f};
      s.select(c, out, ctx, plan);
      std::vector<std::size_t> remasked;
      for (std::size_t i = 0; i < 6; ++i)
        if (plan.ops[i] & apgen::op_remask) remasked.push_back(i);
      if (round == 0) CHECK(remasked == std::vector<std::size_t>{2, 4});
      if (round == 1) CHECK(remasked == std::vector<std::size_t>{4}); // budget 3: one left
      if (round == 2) CHECK(remasked.empty());
    }
    CHECK(s.spent(0) == 3);
  }

} // TEST_SUITE
