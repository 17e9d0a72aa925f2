// Samplers: greedy is the argmax; temperature, top-k and top-p follow their distributions (chi-square style
// bounds on many keyed draws), never return suppressed ids, are deterministic per key, and the exact pruning of
// hopeless tokens changes nothing.
#include <apgen/core/rng.hpp>
#include <apgen/sampling/samplers.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <vector>

using namespace apgen::sampling;

namespace {
template <class S>
std::vector<double> frequencies(const S& s, const std::vector<float>& z, const token_filter& f, int draws,
                                std::uint64_t seed = 1) {
  std::vector<double> freq(z.size(), 0);
  const auto sum = summarize<apgen::backends::serial>(z, f);
  for (int d = 0; d < draws; ++d) {
    draw_key key{apgen::counter_rng(seed, apgen::rng_stream::token_noise), 5, static_cast<std::uint32_t>(d), 3};
    freq[static_cast<std::size_t>(s.choose(z, f, sum, key))] += 1.0 / draws;
  }
  return freq;
}
std::vector<double> softmax(const std::vector<float>& z, double t, const std::vector<int>& keep) {
  std::vector<double> p(z.size(), 0);
  double s = 0;
  for (int j : keep) s += std::exp(z[static_cast<std::size_t>(j)] / t);
  for (int j : keep) p[static_cast<std::size_t>(j)] = std::exp(z[static_cast<std::size_t>(j)] / t) / s;
  return p;
}
} // namespace

TEST_SUITE("samplers") {

  TEST_CASE("greedy returns the summary's argmax") {
    std::vector<float> z{0.f, 3.f, 1.f, 3.f};
    const auto s = summarize<apgen::backends::serial>(z, token_filter{});
    CHECK(greedy{}.choose(z, {}, s, {}) == 1);
  }

  TEST_CASE("temperature sampling matches softmax(z / t) and never picks a suppressed id") {
    const std::vector<float> z{2.0f, 1.0f, 0.5f, -1.0f, 3.0f};
    const token_filter f{4};
    for (double t : {0.5, 1.0, 2.0}) {
      CAPTURE(t);
      const auto freq = frequencies(temperature(t), z, f, 40000);
      const auto p = softmax(z, t, {0, 1, 2, 3});
      CHECK(freq[4] == 0.0);
      for (std::size_t j = 0; j < 4; ++j)
        CHECK(std::abs(freq[j] - p[j]) < 4 * std::sqrt(p[j] * (1 - p[j]) / 40000) + 1e-3);
    }
  }

  TEST_CASE("top-k restricts to the k largest logits") {
    const std::vector<float> z{2.0f, 1.0f, 0.5f, -1.0f, 1.5f};
    const auto freq = frequencies(top_k(2), z, {}, 30000);
    const auto p = softmax(z, 1.0, {0, 4});
    for (std::size_t j = 0; j < z.size(); ++j) CHECK(std::abs(freq[j] - p[j]) < 0.012);
    CHECK(frequencies(top_k(1), z, {}, 200)[0] == doctest::Approx(1.0));
  }

  TEST_CASE("top-p keeps the smallest set reaching p") {
    // probabilities ~ 0.64, 0.24, 0.09, 0.03: p = 0.8 keeps the first two.
    const std::vector<float> z{3.0f, 2.0f, 1.0f, -0.2f};
    const auto freq = frequencies(top_p(0.8), z, {}, 30000);
    const auto p = softmax(z, 1.0, {0, 1});
    for (std::size_t j = 0; j < z.size(); ++j) CHECK(std::abs(freq[j] - p[j]) < 0.012);
  }

  TEST_CASE("a draw depends only on its key") {
    std::vector<float> z(1000);
    for (std::size_t j = 0; j < z.size(); ++j) z[j] = static_cast<float>(std::sin(0.37 * static_cast<double>(j)));
    const auto s = summarize<apgen::backends::serial>(z, {});
    const draw_key a{apgen::counter_rng(9, apgen::rng_stream::token_noise), 2, 7, 11};
    const temperature t(1.0);
    const auto first = t.choose(z, {}, s, a);
    for (int i = 0; i < 5; ++i) CHECK(t.choose(z, {}, s, a) == first);
    draw_key b = a;
    int differ = 0;
    for (std::uint32_t step = 0; step < 50; ++step) {
      b.step = step;
      differ += t.choose(z, {}, s, b) != first;
    }
    CHECK(differ > 25);
  }

  TEST_CASE("skipping tokens beyond the Gumbel span gives the same draw as scoring every token") {
    // Logits spread over 200 nats: most tokens are hopeless; compare with an unpruned Gumbel-max.
    std::vector<float> z(500);
    for (std::size_t j = 0; j < z.size(); ++j) z[j] = static_cast<float>(j % 50) * 4.0f - 100.0f;
    const auto s = summarize<apgen::backends::serial>(z, {});
    for (std::uint32_t d = 0; d < 300; ++d) {
      const draw_key key{apgen::counter_rng(3, apgen::rng_stream::token_noise), 1, d, 0};
      double best = -INFINITY;
      int arg = -1;
      for (std::size_t j = 0; j < z.size(); ++j) {
        const double v = z[j] + key.gumbel(j);
        if (v > best) {
          best = v;
          arg = static_cast<int>(j);
        }
      }
      CHECK(temperature(1.0).choose(z, {}, s, key) == arg);
    }
  }

  TEST_CASE("bad sampler settings are rejected with a message") {
    CHECK_THROWS_AS(temperature(0.0), apgen::invalid_argument);
    CHECK_THROWS_AS(temperature(std::nan("")), apgen::invalid_argument);
    CHECK_THROWS_AS(top_k(0), apgen::invalid_argument);
    CHECK_THROWS_AS(top_p(0.0), apgen::invalid_argument);
    CHECK_THROWS_AS(top_p(1.5), apgen::invalid_argument);
  }

  TEST_CASE("Gumbel noise stays inside the bound the pruning relies on") {
    // The extreme uniforms the sampler can produce.
    const double u_hi = apgen::bits_to_open_unit(0xFFFFFFFFu, 0xFFFFFFFFu), u_lo = apgen::bits_to_open_unit(0, 0);
    CHECK(u_hi < 1.0);
    CHECK(u_lo > 0.0);
    const double g_hi = -std::log(-std::log(u_hi)), g_lo = -std::log(-std::log(u_lo));
    CHECK(g_hi < apgen::gumbel_upper_bound);
    CHECK(g_hi - g_lo < apgen::sampling::detail::gumbel_span);
  }

} // TEST_SUITE
