// The exact oracles run through the same engine as any model: parity reduces every bit string to its parity,
// and the Dyck oracle only ever produces two-sided Dyck words, reaching every short word.
#include <apgen/apgen.hpp>

#include <doctest/doctest.h>

#include <random>
#include <set>
#include <vector>

namespace {

std::vector<int> random_bits(std::mt19937& g, std::size_t n) {
  std::vector<int> b(n);
  for (auto& x : b) x = static_cast<int>(g() & 1u);
  return b;
}

} // namespace

TEST_SUITE("oracles") {

  TEST_CASE("parity: every string of length 0..10 and 300 random ones up to 600 bits, in ragged batches") {
    const auto v = apgen::tasks::parity::make_vocabulary();
    std::vector<std::vector<int>> inputs;
    for (std::size_t n = 0; n <= 10; ++n)
      for (unsigned m = 0; m < (1u << n); ++m) {
        std::vector<int> b(n);
        for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<int>((m >> i) & 1u);
        inputs.push_back(b);
      }
    std::mt19937 g(5);
    for (int k = 0; k < 300; ++k) inputs.push_back(random_bits(g, g() % 601));
    const std::size_t B = 64;
    for (std::size_t at = 0; at < inputs.size(); at += B) {
      const std::size_t n = std::min(B, inputs.size() - at);
      std::vector<std::size_t> caps;
      for (std::size_t r = 0; r < n; ++r) caps.push_back(inputs[at + r].size() + 1);
      apgen::canvas c(v, caps);
      for (std::size_t r = 0; r < n; ++r) c.assign(r, apgen::tasks::parity::encode(v, inputs[at + r]), 1);
      auto gen = apgen::make_generator(apgen::tasks::parity::oracle(v), apgen::schedules::any_process<>());
      const auto res = gen.generate(c);
      for (std::size_t r = 0; r < n; ++r) {
        const auto expect = apgen::tasks::parity::answer(v, inputs[at + r]);
        REQUIRE(std::vector<int>(c.row(r).begin(), c.row(r).end()) == expect);
        CHECK(res.rows[r].reason == apgen::stop_reason::fixed_point);
      }
    }
  }

  TEST_CASE("parity: the seven transitions of length-2 inputs") {
    const auto v = apgen::tasks::parity::make_vocabulary();
    std::set<std::pair<std::string, std::string>> seen;
    for (unsigned m = 0; m < 4; ++m) {
      apgen::canvas c(v, 1, 4);
      c.assign(0, apgen::tasks::parity::encode(v, {static_cast<int>(m & 1), static_cast<int>(m >> 1)}), 1);
      auto gen = apgen::make_generator(apgen::tasks::parity::oracle(v), apgen::schedules::any_process<>());
      std::string before = apgen::to_text(v, c, 0, " ");
      apgen::no_trace off;
      gen.generate(c, off, [&](const apgen::canvas& now, const apgen::step_report&) {
        const std::string after = apgen::to_text(v, now, 0, " ");
        if (after != before) seen.emplace(before, after);
        before = after;
      });
    }
    CHECK(seen.size() == 7);
    CHECK(seen.count({"[BOS] 1 1", "[BOS] [MASK] [MASK]"}) == 1);
    CHECK(seen.count({"[BOS] 1 [MASK]", "[BOS] 1"}) == 1);
  }

  TEST_CASE("parity: a non-bit token is rejected with a message") {
    const auto v = apgen::tasks::parity::make_vocabulary();
    apgen::canvas c(v, 1, 4);
    c.assign(0, {1, 2, 1}); // BOS 0 BOS
    auto gen = apgen::make_generator(apgen::tasks::parity::oracle(v), apgen::schedules::any_process<>());
    CHECK_THROWS_WITH_AS(gen.generate(c), doctest::Contains("position 2"), apgen::invalid_token);
  }

  TEST_CASE("dyck: every output of 2,000 generations is a two-sided Dyck word within the length limit") {
    for (std::size_t k : {1u, 2u, 3u}) {
      const auto v = apgen::tasks::dyck::make_vocabulary(k);
      apgen::tasks::dyck::oracle_options opt{k, 24, 0.1, 0.3};
      apgen::canvas c(v, 200, 26);
      for (std::uint64_t seed = 0; seed < 10; ++seed) {
        for (std::size_t r = 0; r < c.rows(); ++r) c.assign(r, {*v.bos()});
        auto gen = apgen::make_generator(apgen::tasks::dyck::oracle(v, opt), apgen::schedules::any_process<>(),
                                         {.seed = seed});
        const auto res = gen.generate(c);
        for (std::size_t r = 0; r < c.rows(); ++r) {
          const auto row = c.row(r);
          REQUIRE(row[0] == *v.bos());
          CHECK(apgen::tasks::dyck::is_two_sided_dyck(row.subspan(1), k));
          CHECK(row.size() - 1 <= 24);
          CHECK(res.rows[r].reason == apgen::stop_reason::fixed_point);
        }
      }
    }
  }

  TEST_CASE("dyck: every two-sided Dyck-2 word of length <= 4 is reachable") {
    const std::size_t k = 2;
    const auto v = apgen::tasks::dyck::make_vocabulary(k);
    // All words over the 4 letters of length 0, 2, 4 that reduce to the empty word.
    std::set<std::vector<int>> all;
    for (std::size_t n : {0u, 2u, 4u}) {
      std::size_t total = 1;
      for (std::size_t i = 0; i < n; ++i) total *= 4;
      for (std::size_t m = 0; m < total; ++m) {
        std::vector<int> w;
        for (std::size_t i = 0, x = m; i < n; ++i, x /= 4)
          w.push_back(apgen::tasks::dyck::first_letter + static_cast<int>(x % 4));
        if (apgen::tasks::dyck::is_two_sided_dyck(w, k)) all.insert(w);
      }
    }
    CHECK(all.size() == 1 + 4 + 28);
    std::set<std::vector<int>> got;
    apgen::canvas c(v, 256, 6);
    for (std::uint64_t seed = 0; seed < 40 && got.size() < all.size(); ++seed) {
      for (std::size_t r = 0; r < c.rows(); ++r) c.assign(r, {*v.bos()});
      auto gen = apgen::make_generator(apgen::tasks::dyck::oracle(v, {k, 4, 0.3, 0.4}),
                                       apgen::schedules::any_process<>(), {.seed = seed});
      gen.generate(c);
      for (std::size_t r = 0; r < c.rows(); ++r) got.emplace(c.row(r).begin() + 1, c.row(r).end());
    }
    CHECK(got == all);
  }

  TEST_CASE("dyck: bad settings are rejected") {
    CHECK_THROWS_AS(static_cast<void>(apgen::tasks::dyck::make_vocabulary(0)), apgen::invalid_argument);
    const auto v = apgen::tasks::dyck::make_vocabulary(2);
    CHECK_THROWS_AS(apgen::tasks::dyck::oracle(v, {3, 8, 0.1, 0.3}), apgen::shape_mismatch);
    CHECK_THROWS_AS(apgen::tasks::dyck::oracle(v, {2, 8, 1.5, 0.3}), apgen::invalid_argument);
  }

} // TEST_SUITE
