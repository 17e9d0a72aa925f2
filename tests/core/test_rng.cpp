// The counter RNG: Philox4x32-10 known-answer values, statelessness, independence of streams, and uniformity.
#include <apgen/core/rng.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

TEST_SUITE("rng") {

  TEST_CASE("Philox4x32-10 known-answer vectors (Random123)") {
    // Published test vectors of the Random123 distribution (kat_vectors, philox4x32 with 10 rounds).
    const auto zero = apgen::philox4x32_10({0, 0, 0, 0}, {0, 0});
    CHECK(zero == std::array<std::uint32_t, 4>{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
    const auto ones =
        apgen::philox4x32_10({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu});
    CHECK(ones == std::array<std::uint32_t, 4>{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu});
    const auto pi =
        apgen::philox4x32_10({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u});
    CHECK(pi == std::array<std::uint32_t, 4>{0xd16cfe09u, 0x94fdcceb, 0x5001e420u, 0x24126ea1u});
  }

  TEST_CASE("a draw is a pure function of its key") {
    const apgen::counter_rng a(123, apgen::rng_stream::token_noise);
    CHECK(a.uniform(4, 5, 6, 7) == a.uniform(4, 5, 6, 7));
    CHECK(a.uniform(4, 5, 6, 7) != a.uniform(4, 5, 6, 8));
    CHECK(a.uniform(4, 5, 6, 7) != a.uniform(4, 5, 7, 7));
    CHECK(a.uniform(4, 5, 6, 7) != a.uniform((1ull << 32) + 4, 5, 6, 7)); // high bits of the row key count
    const apgen::counter_rng b(123, apgen::rng_stream::order);
    CHECK(a.uniform(4, 5, 6, 7) != b.uniform(4, 5, 6, 7));
    const apgen::counter_rng c(124, apgen::rng_stream::token_noise);
    CHECK(a.uniform(4, 5, 6, 7) != c.uniform(4, 5, 6, 7));
  }

  TEST_CASE("uniforms are uniform and Gumbel draws have the right mean") {
    const apgen::counter_rng r(1, apgen::rng_stream::user);
    const int n = 200000;
    std::vector<int> bins(20, 0);
    double gsum = 0;
    for (int i = 0; i < n; ++i) {
      const double u = r.uniform(0, static_cast<std::uint32_t>(i), 0);
      REQUIRE(u > 0.0);
      REQUIRE(u < 1.0);
      ++bins[static_cast<std::size_t>(u * 20)];
      gsum += r.gumbel(1, static_cast<std::uint32_t>(i), 0, 0);
    }
    double chi2 = 0;
    for (int b : bins) chi2 += (b - n / 20.0) * (b - n / 20.0) / (n / 20.0);
    CHECK(chi2 < 45.0);                                             // 19 degrees of freedom: p < 0.001
    CHECK(gsum / n == doctest::Approx(0.5772156649).epsilon(0.01)); // Euler-Mascheroni
    for (std::uint32_t i = 0; i < 1000; ++i) CHECK(r.below(7, 3, i, 0) < 7u);
  }

} // TEST_SUITE
