// The generator end to end: rows are independent of their batch, results do not depend on the thread count,
// every CPU backend agrees with serial, stop reasons are reported, bad input fails with a clear message, and a
// trace records exactly the edits that happened.
#include <apgen/apgen.hpp>

#include <support/backends.hpp>
#include <support/models.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

namespace {

apgen::vocabulary vocab8() {
  return apgen::vocabulary({"a", "b", "c", "d", "e", "f", "g"}, apgen::special_names{"[MASK]", "", "", "[EOS]"});
}

using rows_t = std::vector<std::vector<int>>;

rows_t rows_of(const apgen::canvas& c) {
  rows_t out;
  for (std::size_t r = 0; r < c.rows(); ++r) out.emplace_back(c.row(r).begin(), c.row(r).end());
  return out;
}

// A canvas of `n` rows with keys key0.. and mask counts that differ per row.
apgen::canvas make_canvas(const apgen::vocabulary& v, std::size_t n, std::uint64_t key0, std::size_t cap = 48) {
  apgen::canvas c(v, n, cap);
  for (std::size_t r = 0; r < n; ++r) {
    const std::uint64_t key = key0 + r;
    c.set_row_key(r, key);
    std::vector<int> prompt{static_cast<int>(2 + key % 6)};
    c.assign_prompt_and_masks(r, prompt, 5 + key % 17);
  }
  return c;
}

template <class Backend, class Schedule>
rows_t run(Schedule s, apgen::canvas c, std::uint64_t seed = 42, bool controls = false) {
  apgen::testing::hashed_model m{9, 6.0f, controls};
  apgen::generator<apgen::testing::hashed_model, Schedule, typename Schedule::default_edits, Backend> gen(
      m, s, {.seed = seed, .overflow = apgen::overflow_policy::stop_row, .max_steps = 60});
  gen.generate(c);
  return rows_of(c);
}

} // namespace

TEST_SUITE("generator") {

  TEST_CASE_TEMPLATE("a row's output does not depend on the batch it sits in", Backend, APGEN_TEST_CPU_BACKENDS) {
    const auto v = vocab8();
    auto sched =
        apgen::schedules::random_order(apgen::schedules::unmask_count::fixed_k(2), apgen::sampling::top_p(0.9, 1.3));
    const rows_t big = run<Backend>(sched, make_canvas(v, 12, 100));
    for (std::size_t r = 0; r < 12; r += 5) {
      const rows_t alone = run<Backend>(sched, make_canvas(v, 1, 100 + r));
      CHECK(alone[0] == big[r]);
    }
    // The same rows in another batch, at other indices.
    const rows_t shifted = run<Backend>(sched, make_canvas(v, 6, 106));
    for (std::size_t r = 0; r < 6; ++r) CHECK(shifted[r] == big[6 + r]);
  }

  TEST_CASE("results do not depend on the OpenMP thread count") {
#if APGEN_HAS_OPENMP
    const auto v = vocab8();
    auto sched =
        apgen::schedules::lowest_entropy(apgen::schedules::unmask_count::cosine(6), apgen::sampling::temperature(1.0));
    const int before = omp_get_max_threads();
    omp_set_num_threads(1);
    const rows_t one = run<apgen::backends::omp>(sched, make_canvas(v, 16, 7));
    for (int threads : {2, 3, 4}) {
      omp_set_num_threads(threads);
      CHECK(run<apgen::backends::omp>(sched, make_canvas(v, 16, 7)) == one);
    }
    omp_set_num_threads(before);
#else
    MESSAGE("built without OpenMP: nothing to compare");
#endif
  }

  TEST_CASE_TEMPLATE("simd and omp decode exactly as serial, near-ties included", Backend, apgen::backends::simd,
                     apgen::backends::omp) {
    // Every position a permutation of values one ulp apart: token ties everywhere, and positions whose confidences
    // differ only in the last bits of their sums. A backend that summed in another precision or order would rank
    // them differently.
    std::vector<std::string> names;
    for (int k = 0; k < 66; ++k) names.push_back("t" + std::to_string(k));
    const apgen::vocabulary wide(names, apgen::special_names{"[MASK]", "", "[BOS]", "[EOS]"});
    const apgen::testing::near_tie_model tied{wide.size()};
    REQUIRE(tied.vocab_size() >= 64);
    const auto decode = [&]<class B, class S>(S s, std::uint64_t seed) {
      apgen::canvas c(wide, 7, 40);
      for (std::size_t r = 0; r < 7; ++r) {
        const std::vector<int> prompt{static_cast<int>(3 + r)};
        c.assign_prompt_and_masks(r, prompt, 20 + r);
      }
      auto gen = apgen::make_generator<void, B>(tied, s, {.seed = seed, .max_steps = 60});
      gen.generate(c);
      return rows_of(c);
    };
    using apgen::schedules::unmask_count;
    const auto same = [&](auto s, std::uint64_t seed) {
      return decode.template operator()<Backend>(s, seed) ==
             decode.template operator()<apgen::backends::serial>(s, seed);
    };
    CHECK(same(apgen::schedules::top_probability(unmask_count::fixed_k(3)), 1));
    CHECK(same(apgen::schedules::top_margin(unmask_count::fixed_k(2)), 2));
    CHECK(same(apgen::schedules::lowest_entropy(unmask_count::linear(6), apgen::sampling::temperature(1.0)), 3));
    CHECK(same(apgen::schedules::threshold<>(0.02), 4));
    CHECK(same(apgen::schedules::top_probability(unmask_count::fixed_k(4), apgen::sampling::top_p(0.5, 1.0)), 5));
  }

  TEST_CASE_TEMPLATE("simd and omp decode the spread model exactly as serial", Backend, apgen::backends::simd,
                     apgen::backends::omp) {
    const auto v = vocab8();
    using apgen::schedules::unmask_count;
    CHECK(
        run<Backend>(apgen::schedules::top_probability(unmask_count::linear(5)), make_canvas(v, 9, 3)) ==
        run<apgen::backends::serial>(apgen::schedules::top_probability(unmask_count::linear(5)), make_canvas(v, 9, 3)));
    CHECK(run<Backend>(apgen::schedules::top_margin(unmask_count::fixed_k(3), apgen::sampling::top_k(3)),
                       make_canvas(v, 9, 3)) ==
          run<apgen::backends::serial>(
              apgen::schedules::top_margin(unmask_count::fixed_k(3), apgen::sampling::top_k(3)), make_canvas(v, 9, 3)));
    CHECK(run<Backend>(apgen::schedules::blockwise<>(4, 2), make_canvas(v, 9, 3)) ==
          run<apgen::backends::serial>(apgen::schedules::blockwise<>(4, 2), make_canvas(v, 9, 3)));
    CHECK(run<Backend>(apgen::schedules::threshold<>(0.5), make_canvas(v, 9, 3)) ==
          run<apgen::backends::serial>(apgen::schedules::threshold<>(0.5), make_canvas(v, 9, 3)));
    CHECK(run<Backend>(apgen::schedules::any_process<>(), make_canvas(v, 9, 3, 400), 5, true) ==
          run<apgen::backends::serial>(apgen::schedules::any_process<>(), make_canvas(v, 9, 3, 400), 5, true));
  }

  TEST_CASE_TEMPLATE("the backend reaches the denoiser: serial and simd run it on one thread", Backend,
                     APGEN_TEST_CPU_BACKENDS) {
    const auto v = vocab8();
    int seen_limit = -1, seen_threads = -1;
    auto probe = apgen::make_denoiser(
        v.size(),
        [&](const apgen::canvas&, const apgen::step_context& ctx, apgen::denoiser_output& out) {
          seen_limit = ctx.max_threads;
          seen_threads = apgen::detail::available_threads(); // what the transformer's loops would get
          std::fill(out.token_data().begin(), out.token_data().end(), 0.0f);
        },
        apgen::heads::tokens_only);
    apgen::canvas c(v, 1, 4);
    c.assign_prompt_and_masks(0, {}, 2);
    auto gen = apgen::make_generator<void, Backend>(probe, apgen::schedules::top_probability(), {.max_steps = 1});
    gen.generate(c);
    CHECK(seen_limit == Backend::max_threads());
    if constexpr (std::is_same_v<Backend, apgen::backends::omp>) {
      CHECK(seen_threads == apgen::detail::available_threads());
    } else {
      CHECK(seen_threads == 1);
    }
    CHECK(apgen::detail::thread_limit == 0); // the cap ends with the generation
  }

  TEST_CASE("stop reasons: no mask left, EOS, fixed point, step limit, length limit, capacity") {
    const auto v = vocab8();
    const int eos = *v.eos();
    // A process that never settles: the last position always inserts a MASK, which the next step unmasks.
    auto grower = apgen::make_denoiser(
        v.size(),
        [](std::span<const int> row, apgen::matrix_view<float> z, apgen::matrix_view<float> ctl) {
          for (std::size_t i = 0; i < row.size(); ++i) z(i, 3) = 5.f;
          if (!row.empty()) ctl(row.size() - 1, apgen::control_insert) = 5.f;
        },
        apgen::heads::tokens_and_controls);
    using grower_t = decltype(grower);
    SUBCASE("no mask left, with steps equal to the unmask count's promise") {
      auto c = make_canvas(v, 3, 0);
      auto gen = apgen::make_generator(apgen::testing::hashed_model{},
                                       apgen::schedules::top_probability(apgen::schedules::unmask_count::linear(4)));
      const auto res = gen.generate(c);
      for (auto& r : res.rows) {
        CHECK(r.reason == apgen::stop_reason::no_mask_left);
        CHECK(r.steps == 4);
      }
    }
    SUBCASE("EOS stops an appending ARM row, and the row ends in EOS") {
      auto model = apgen::make_denoiser(v.size(), [eos](std::span<const int> row, apgen::matrix_view<float> z) {
        for (std::size_t i = 0; i < row.size(); ++i) z(i, i < 6 ? 2 + i % 3 : static_cast<std::size_t>(eos)) = 5.f;
      });
      apgen::canvas c(v, 1, 32);
      c.assign(0, {2, 0});
      auto gen = apgen::make_generator<apgen::edits::arm_append>(model, apgen::schedules::autoregressive<>{});
      const auto res = gen.generate(c);
      CHECK(res.rows[0].reason == apgen::stop_reason::eos);
      CHECK(c.length(0) == 7);
      CHECK(c.row(0).back() == eos);
    }
    SUBCASE("an appending ARM row that never says EOS stops at its capacity without overflowing") {
      auto model = apgen::make_denoiser(v.size(), [](std::span<const int> row, apgen::matrix_view<float> z) {
        for (std::size_t i = 0; i < row.size(); ++i) z(i, 3) = 5.f;
      });
      apgen::canvas c(v, 1, 10);
      c.assign(0, {2, 0});
      auto gen = apgen::make_generator<apgen::edits::arm_append>(model, apgen::schedules::autoregressive<>{});
      const auto res = gen.generate(c);
      CHECK(res.rows[0].reason == apgen::stop_reason::no_mask_left);
      CHECK(c.length(0) == 10);
    }
    SUBCASE("a fixed point ends an editing process that settles") {
      auto settles = apgen::make_denoiser(
          v.size(),
          [](std::span<const int> row, apgen::matrix_view<float> z, apgen::matrix_view<float>) {
            for (std::size_t i = 0; i < row.size(); ++i) z(i, 4) = 5.f;
          },
          apgen::heads::tokens_and_controls);
      apgen::canvas c(v, 1, 8);
      c.assign(0, {2, 0, 0});
      auto gen = apgen::make_generator(settles, apgen::schedules::any_process<>{});
      const auto res = gen.generate(c);
      CHECK(res.rows[0].reason == apgen::stop_reason::fixed_point);
      CHECK(res.rows[0].steps == 2); // one step unmasks both, the next changes nothing
    }
    SUBCASE("step limit for a process that never settles") {
      apgen::canvas c(v, 1, 100000);
      c.assign(0, {2, 3, 4});
      apgen::generator<grower_t, apgen::schedules::any_process<>, apgen::edits::any_process, apgen::backends::serial>
          gen(grower, apgen::schedules::any_process<>(), {.max_steps = 6});
      const auto res = gen.generate(c);
      CHECK(res.rows[0].reason == apgen::stop_reason::step_limit);
      CHECK(res.rows[0].steps == 6);
      CHECK(c.length(0) == 9);
    }
    SUBCASE("length limit") {
      apgen::canvas c(v, 1, 100000);
      c.assign(0, {2, 3, 4});
      auto stop = apgen::stopping::stop_when(apgen::stopping::max_length{20});
      apgen::generator<grower_t, apgen::schedules::any_process<>, apgen::edits::any_process, apgen::backends::serial,
                       decltype(stop)>
          gen(grower, apgen::schedules::any_process<>(), {.max_steps = 1000}, stop);
      const auto res = gen.generate(c);
      CHECK(res.rows[0].reason == apgen::stop_reason::length_limit);
      CHECK(c.length(0) == 20);
    }
    SUBCASE("capacity: stop_row ends only the row that would overflow") {
      apgen::canvas c(v, std::vector<std::size_t>{6, 5000});
      c.assign(0, {2, 3, 4});
      c.assign(1, {2, 3, 4});
      apgen::generator<grower_t, apgen::schedules::any_process<>> gen(
          grower, apgen::schedules::any_process<>(),
          {.seed = 1, .overflow = apgen::overflow_policy::stop_row, .max_steps = 12});
      const auto res = gen.generate(c);
      CHECK(res.rows[0].reason == apgen::stop_reason::capacity);
      CHECK(c.length(0) == 6);
      CHECK(res.rows[1].reason == apgen::stop_reason::step_limit);
      CHECK(c.length(1) == 15);
    }
    SUBCASE("capacity: the default policy throws naming the row") {
      apgen::canvas c(v, 1, 6);
      c.assign(0, {2, 3, 4});
      auto gen = apgen::make_generator(grower, apgen::schedules::any_process<>{});
      CHECK_THROWS_WITH_AS(gen.generate(c), doctest::Contains("capacity 6"), apgen::capacity_exceeded);
    }
  }

  TEST_CASE("bad denoiser output and mismatched shapes fail with a clear message") {
    const auto v = vocab8();
    SUBCASE("NaN token scores name the row and position") {
      auto model = apgen::make_denoiser(v.size(), [](std::span<const int> row, apgen::matrix_view<float> z) {
        for (std::size_t i = 0; i < row.size(); ++i) z(i, 2) = i == 3 ? std::nanf("") : 1.f;
      });
      apgen::canvas c(v, 2, 8);
      c.assign_prompt_and_masks(0, {}, 2);
      c.assign_prompt_and_masks(1, {}, 5);
      auto gen = apgen::make_generator(model, apgen::schedules::top_probability());
      CHECK_THROWS_WITH_AS(gen.generate(c), doctest::Contains("row 1, position 3"), apgen::invalid_score);
    }
    SUBCASE("a denoiser for another vocabulary size") {
      apgen::canvas c(v, 1, 8);
      c.assign_prompt_and_masks(0, {}, 2);
      auto gen = apgen::make_generator(apgen::testing::hashed_model{5}, apgen::schedules::top_probability());
      CHECK_THROWS_WITH_AS(gen.generate(c), doctest::Contains("scores 5 tokens"), apgen::shape_mismatch);
    }
    SUBCASE("a schedule that needs control heads with a token-only denoiser") {
      CHECK_THROWS_AS((void)apgen::make_generator(apgen::testing::hashed_model{}, apgen::schedules::any_process<>()),
                      apgen::invalid_argument);
    }
    SUBCASE("a row-wise callable that declares controls but cannot write them") {
      auto f = [](std::span<const int>, apgen::matrix_view<float>) {};
      CHECK_THROWS_AS((void)apgen::make_denoiser(v.size(), f, apgen::heads::tokens_and_controls),
                      apgen::invalid_argument);
    }
  }

  TEST_CASE("a trace records exactly the edits applied, and tracing does not change the result") {
    const auto v = vocab8();
    apgen::testing::hashed_model m{9, 6.0f, true, 0.0f};
    auto c1 = make_canvas(v, 4, 9, 400);
    auto c2 = make_canvas(v, 4, 9, 400);
    auto gen = apgen::make_generator(m, apgen::schedules::any_process<>{}, {.seed = 77, .max_steps = 40});
    const auto plain = gen.generate(c1);
    apgen::op_trace trace;
    const auto traced = gen.generate(c2, trace);
    CHECK(rows_of(c1) == rows_of(c2));
    std::size_t edits = 0;
    for (auto& r : traced.rows) edits += r.totals.unmasked + r.totals.remasked + r.totals.inserted + r.totals.erased;
    CHECK(trace.records().size() == edits);
    CHECK(edits > 0);
    // Control edits carry the control probability (above the 0.5 threshold); unmasks carry the confidence.
    for (const auto& rec : trace.records()) {
      if (rec.op == apgen::op_unmask)
        CHECK(rec.score > 0.f);
      else
        CHECK(rec.score > 0.5f);
    }
    std::ostringstream json;
    apgen::io::write_jsonl(json, trace.records(), &v);
    std::istringstream lines(json.str());
    std::string line;
    std::size_t n = 0;
    while (std::getline(lines, line)) {
      CHECK(line.front() == '{');
      CHECK(line.find("\"op\":\"") != std::string::npos);
      // Scores are written to round-trip: they read back as the same float.
      const auto at = line.find("\"score\":");
      REQUIRE(at != std::string::npos);
      const std::string number = line.substr(at + 8, line.size() - 1 - (at + 8));
      if (number != "null") {
        float back = 0;
        std::from_chars(number.data(), number.data() + number.size(), back);
        CHECK(back == trace.records()[n].score);
      }
      ++n;
    }
    CHECK(n == edits);
  }

  TEST_CASE("the observer sees every step") {
    const auto v = vocab8();
    auto c = make_canvas(v, 2, 0);
    auto gen = apgen::make_generator(apgen::testing::hashed_model{},
                                     apgen::schedules::top_probability(apgen::schedules::unmask_count::fixed_k(2)));
    apgen::no_trace off;
    std::uint32_t seen = 0;
    const auto res =
        gen.generate(c, off, [&](const apgen::canvas&, const apgen::step_report& rep) { CHECK(rep.step == seen++); });
    CHECK(seen == res.steps);
  }

  TEST_CASE("a sequence-level fixed point stops the row (insert after a token, delete the MASK after it)") {
    // [a, MASK] -> [a, MASK] at every step: the row ran 2^20 steps to the step limit when changed() only counted edits.
    const auto v = vocab8();
    auto model = apgen::make_denoiser(
        v.size(),
        [](std::span<const apgen::token_id> row, apgen::matrix_view<float> tok, apgen::matrix_view<float> ctl) {
          for (std::size_t i = 0; i < row.size(); ++i) tok(i, 2) = 1.0f;
          ctl(0, apgen::control_insert) = 10.0f;
          if (row.size() > 1) ctl(1, apgen::control_delete) = 10.0f;
        },
        apgen::heads::tokens_and_controls);
    apgen::canvas c(v, 1, 8);
    c.assign(0, {1, 0});
    auto gen = apgen::make_generator(model, apgen::schedules::any_process<>());
    const auto res = gen.generate(c);
    CHECK(res.rows[0].reason == apgen::stop_reason::fixed_point);
    CHECK(res.rows[0].steps == 1);
    CHECK(std::vector<int>(c.row(0).begin(), c.row(0).end()) == std::vector<int>{1, 0});
  }

  TEST_CASE("under omp an error names the lowest failing index, as the serial loop does") {
#if APGEN_HAS_OPENMP
    const int saved = omp_get_max_threads();
    omp_set_num_threads(2);
#endif
    // Every index fails; the loop is forced parallel (a cost far above the grain), and threads meet their first
    // failures in any order.
    for (int round = 0; round < 20; ++round)
      CHECK_THROWS_WITH_AS(apgen::backends::for_each_index<apgen::backends::omp>(
                               64, [](std::size_t i) { apgen::detail::fail<apgen::invalid_score>("index ", i); }, 1e9),
                           "index 0", apgen::invalid_score);
    // Through the token pass: NaN at positions 1 and 5 of a step large enough to be threaded.
    const std::size_t V = 40000;
    std::vector<std::string> names;
    for (std::size_t i = 1; i < V; ++i) {
      std::string name = "s";
      name += std::to_string(i);
      names.push_back(std::move(name));
    }
    const apgen::vocabulary big(names);
    auto model = apgen::make_denoiser(V, [](std::span<const apgen::token_id> row, apgen::matrix_view<float> tok) {
      for (std::size_t i : {std::size_t{1}, std::size_t{5}})
        if (i < row.size()) tok(i, 3) = std::numeric_limits<float>::quiet_NaN();
    });
    apgen::canvas c(big, 1, 8);
    c.assign_prompt_and_masks(0, {}, 8);
    auto gen = apgen::make_generator<void, apgen::backends::omp>(model, apgen::schedules::top_probability());
    CHECK_THROWS_WITH_AS(gen.generate(c), doctest::Contains("row 0, position 1 "), apgen::invalid_score);
#if APGEN_HAS_OPENMP
    omp_set_num_threads(saved);
#endif
  }

  TEST_CASE("make_generator takes a stop rule, and generate takes an observer without a trace") {
    const auto v = vocab8();
    apgen::testing::hashed_model model;
    model.vocab = v.size();
    apgen::canvas c(v, 2, 16);
    for (std::size_t r = 0; r < 2; ++r) c.assign_prompt_and_masks(r, {}, 10);
    auto gen = apgen::make_generator(
        model, apgen::schedules::top_probability(), {.max_steps = 3},
        apgen::stopping::stop_when(apgen::stopping::no_mask_left{}, apgen::stopping::fixed_point{}));
    std::size_t reports = 0;
    const auto res = gen.generate(c, [&](const apgen::canvas&, const apgen::step_report& rep) {
      ++reports;
      CHECK(rep.plan != nullptr);
    });
    CHECK(reports == 3);
    for (std::size_t r = 0; r < 2; ++r) {
      CHECK(res.rows[r].reason == apgen::stop_reason::step_limit);
      CHECK(res.rows[r].steps == 3);
      CHECK(c.count_masks(r) == 7);
    }
  }

  TEST_CASE("bad generator input is named: a PAD outside the vocabulary, a batch denoiser that writes no scores") {
    const auto v = vocab8();
    apgen::testing::hashed_model model;
    model.vocab = v.size();
    apgen::canvas c(v, 1, 8);
    c.assign_prompt_and_masks(0, {}, 4);
    auto padded = apgen::make_generator(model, apgen::schedules::top_probability(), {.pad = 99});
    CHECK_THROWS_WITH_AS(padded.generate(c), doctest::Contains("pad is 99"), apgen::invalid_token);
    // A whole-batch denoiser that forgets its token logits: reported, not decoded from whatever the buffer held.
    auto lazy = apgen::make_denoiser(v.size(),
                                     [](const apgen::canvas&, const apgen::step_context&, apgen::denoiser_output&) {});
    auto gen = apgen::make_generator(lazy, apgen::schedules::top_probability());
    CHECK_THROWS_WITH_AS(gen.generate(c), doctest::Contains("row 0, position 0"), apgen::invalid_score);
    // A row-form denoiser that writes past its block is stopped by the view's bounds check.
    auto reckless = apgen::make_denoiser(v.size(), [](std::span<const apgen::token_id> row,
                                                      apgen::matrix_view<float> tok) { tok(row.size(), 0) = 1.0f; });
    auto gen2 = apgen::make_generator(reckless, apgen::schedules::top_probability());
    CHECK_THROWS_WITH_AS(gen2.generate(c), doctest::Contains("element (4, 0) is outside the 4 x 9 view"),
                         apgen::invalid_argument);
  }

} // TEST_SUITE
