// The vector distribution summary against the scalar reference, on random logits of many vocabulary sizes,
// with suppressed ids, ties, and bad values.
#include <apgen/sampling/distribution.hpp>

#include <support/backends.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

using apgen::sampling::distribution_summary;
using apgen::sampling::token_filter;

namespace {
// Textbook softmax statistics in long double: the reference the scalar path is checked against.
struct naive {
  int argmax = -1;
  long double p_top = 0, margin = 0, entropy = 0;
};
naive naive_stats(const std::vector<float>& z, const token_filter& f) {
  naive n;
  float m = -INFINITY, m2 = -INFINITY;
  for (std::size_t j = 0; j < z.size(); ++j) {
    if (f.excluded(static_cast<int>(j))) continue;
    if (z[j] > m) {
      m2 = m;
      m = z[j];
      n.argmax = static_cast<int>(j);
    } else if (z[j] > m2)
      m2 = z[j];
  }
  long double s = 0;
  for (std::size_t j = 0; j < z.size(); ++j)
    if (!f.excluded(static_cast<int>(j))) s += std::exp(static_cast<long double>(z[j]) - m);
  for (std::size_t j = 0; j < z.size(); ++j)
    if (!f.excluded(static_cast<int>(j))) {
      const long double p = std::exp(static_cast<long double>(z[j]) - m) / s;
      if (p > 0) n.entropy -= p * std::log(p);
    }
  n.p_top = 1 / s;
  n.margin = (1 - std::exp(static_cast<long double>(m2) - m)) / s;
  return n;
}
} // namespace

TEST_SUITE("distribution summary") {

  TEST_CASE_TEMPLATE("agrees with a long-double softmax on random logits (V from 1 to 32,000)", Backend,
                     APGEN_TEST_CPU_BACKENDS) {
    std::mt19937 g(7);
    for (std::size_t V : {1u, 2u, 3u, 15u, 16u, 17u, 33u, 100u, 1000u, 4099u, 32000u}) {
      for (int trial = 0; trial < 12; ++trial) {
        std::normal_distribution<float> d(0.f, trial % 3 == 0 ? 8.f : 2.f);
        std::vector<float> z(V);
        for (auto& v : z) v = d(g);
        if (trial % 4 == 1 && V > 3) z[V / 2] = z[V / 3]; // ties somewhere
        token_filter f;
        if (trial % 2 && V > 2) f = token_filter{0, static_cast<int>(V - 1)};
        CAPTURE(V);
        CAPTURE(trial);
        const distribution_summary s = apgen::sampling::summarize<Backend>(z, f);
        const naive n = naive_stats(z, f);
        if (n.argmax < 0) {
          CHECK_FALSE(s.finite());
          continue;
        }
        REQUIRE(s.finite());
        CHECK(s.argmax == n.argmax);
        CHECK(s.probability(s.top1) == doctest::Approx(static_cast<double>(n.p_top)).epsilon(2e-5));
        CHECK(s.margin() == doctest::Approx(static_cast<double>(n.margin)).epsilon(2e-5).scale(0.05));
        CHECK(s.entropy() == doctest::Approx(static_cast<double>(n.entropy)).epsilon(2e-5).scale(0.05));
      }
    }
  }

  TEST_CASE_TEMPLATE("the argmax is the first of equal maxima and skips suppressed ids", Backend,
                     APGEN_TEST_CPU_BACKENDS) {
    std::vector<float> z(70, 0.f);
    z[3] = z[40] = z[69] = 5.f;
    CHECK(apgen::sampling::summarize<Backend>(z, token_filter{}).argmax == 3);
    CHECK(apgen::sampling::summarize<Backend>(z, token_filter{3}).argmax == 40);
    CHECK(apgen::sampling::summarize<Backend>(z, token_filter{3}).top2 == 5.f);
    CHECK(apgen::sampling::summarize<Backend>(z, token_filter{3, 40}).argmax == 69);
  }

  TEST_CASE_TEMPLATE("NaN and infinite logits are reported as not finite", Backend, APGEN_TEST_CPU_BACKENDS) {
    for (std::size_t V : {5u, 64u, 1000u}) {
      for (std::size_t at : {std::size_t{0}, V / 2, V - 1}) {
        std::vector<float> z(V, 1.f);
        z[at] = std::numeric_limits<float>::quiet_NaN();
        CHECK_FALSE(apgen::sampling::summarize<Backend>(z, token_filter{}).finite());
        z[at] = std::numeric_limits<float>::infinity();
        CHECK_FALSE(apgen::sampling::summarize<Backend>(z, token_filter{}).finite());
      }
    }
    std::vector<float> all_neg(40, -std::numeric_limits<float>::infinity());
    CHECK_FALSE(apgen::sampling::summarize<Backend>(all_neg, token_filter{}).finite());
  }

  // -inf is an impossible token: allowed wherever at least one allowed token is finite, with probability 0, and
  // every backend at every vocabulary size says the same (it used to depend on the backend and on V).
  TEST_CASE_TEMPLATE("-inf logits are impossible tokens, accepted alike by every backend and vocabulary size", Backend,
                     APGEN_TEST_CPU_BACKENDS) {
    const float neg_inf = -std::numeric_limits<float>::infinity();
    for (std::size_t V : {2u, 8u, 40u, 67u, 1000u}) {
      CAPTURE(V);
      std::mt19937 rng(static_cast<unsigned>(V));
      std::uniform_real_distribution<float> u(-4.f, 4.f);
      std::vector<float> z(V);
      for (auto& x : z) x = u(rng);
      for (std::size_t at : {std::size_t{0}, V / 2, V - 1}) {
        CAPTURE(at);
        std::vector<float> one = z;
        one[at] = neg_inf;
        const auto s = apgen::sampling::summarize<Backend>(one, token_filter{});
        REQUIRE(s.finite());
        CHECK(s.argmax != static_cast<int>(at));
        CHECK(s.probability(one[at]) == 0.0);
        // The same as the distribution over the other tokens.
        std::vector<float> rest = z;
        rest.erase(rest.begin() + static_cast<std::ptrdiff_t>(at));
        const auto r = apgen::sampling::summarize<apgen::backends::serial>(rest, token_filter{});
        CHECK(s.sum_exp == doctest::Approx(r.sum_exp).epsilon(1e-5));
        CHECK(s.entropy() == doctest::Approx(r.entropy()).epsilon(1e-5));
      }
      // SUBS pinning: one token at 0, every other -inf. Certain, entropy 0.
      std::vector<float> pinned(V, neg_inf);
      pinned[V / 2] = 0.0f;
      const auto p = apgen::sampling::summarize<Backend>(pinned, token_filter{});
      REQUIRE(p.finite());
      CHECK(p.argmax == static_cast<int>(V / 2));
      CHECK(p.probability(0.0f) == doctest::Approx(1.0));
      CHECK(p.entropy() == doctest::Approx(0.0));
      // Every logit at the lowest finite float is a finite, uniform distribution.
      std::vector<float> lowest(V, std::numeric_limits<float>::lowest());
      const auto l = apgen::sampling::summarize<Backend>(lowest, token_filter{});
      REQUIRE(l.finite());
      CHECK(l.argmax == 0);
      CHECK(l.entropy() == doctest::Approx(std::log(static_cast<double>(V))));
      // -inf everywhere but on a suppressed id: nothing allowed is finite.
      pinned.assign(V, neg_inf);
      pinned[0] = 1.0f;
      CHECK_FALSE(apgen::sampling::summarize<Backend>(pinned, token_filter{0}).finite());
    }
  }

  TEST_CASE("serial and simd summaries are equal bit for bit, near-ties included") {
    // serial computes the vector pass one lane at a time with the scalar twins of its arithmetic; every field must
    // match, or a ranking of near-equal confidences could differ between backends.
    std::mt19937 g(11);
    const auto bits = [](auto x) {
      std::uint64_t b = 0;
      std::memcpy(&b, &x, sizeof x);
      return b;
    };
    std::size_t compared = 0;
    for (std::size_t V : {63u, 64u, 65u, 100u, 1000u, 4099u, 32000u}) {
      for (int trial = 0; trial < 40; ++trial) {
        std::normal_distribution<float> d(0.f, trial % 3 ? 2.f : 30.f);
        std::vector<float> z(V);
        for (auto& v : z) v = d(g);
        if (trial % 5 == 1)
          for (std::size_t j = 0; j < V; j += 7) z[j] = z[0]; // ties
        if (trial % 5 == 2)
          for (std::size_t j = 0; j < V; j += 3) z[j] = -INFINITY; // impossible tokens
        if (trial % 5 == 3)
          for (auto& v : z) v = std::nextafter(1.0f, 2.0f * static_cast<float>(g() % 2)); // values one ulp apart
        token_filter f;
        if (trial % 2) f = token_filter{0, 5, static_cast<int>(V - 1)};
        const distribution_summary a = apgen::sampling::summarize<apgen::backends::serial>(z, f);
        const distribution_summary b = apgen::sampling::summarize<apgen::backends::simd>(z, f);
        CAPTURE(V);
        CAPTURE(trial);
        CHECK(a.argmax == b.argmax);
        CHECK(bits(a.top1) == bits(b.top1));
        CHECK(bits(a.top2) == bits(b.top2));
        CHECK(bits(a.sum_exp) == bits(b.sum_exp));
        CHECK(bits(a.sum_zexp) == bits(b.sum_zexp));
        ++compared;
      }
    }
    CHECK(compared == 280);
  }

} // TEST_SUITE
