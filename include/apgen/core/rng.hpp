#pragma once
/// \file
/// Counter-based randomness (Philox4x32-10, Salmon et al., SC'11). A draw is a pure function of
/// (seed, stream, row key, position, step, index): no state is advanced, so a row's random choices do not depend
/// on which batch it sits in, on the order threads visit positions, or on the thread count. The same arithmetic
/// runs on host and device.

#include <array>
#include <cmath>
#include <cstdint>

namespace apgen {

/// Independent random streams, so that one use of randomness never shifts another's.
enum class rng_stream : std::uint32_t {
  token_noise = 1, ///< Gumbel noise of token sampling
  order = 2,       ///< random unmasking order
  denoiser = 3,    ///< free for stochastic denoisers and oracles
  user = 16,       ///< first value free for user code
};

namespace detail {
inline constexpr std::uint32_t philox_m0 = 0xD2511F53u;
inline constexpr std::uint32_t philox_m1 = 0xCD9E8D57u;
inline constexpr std::uint32_t philox_w0 = 0x9E3779B9u;
inline constexpr std::uint32_t philox_w1 = 0xBB67AE85u;

constexpr std::uint64_t splitmix64(std::uint64_t x) noexcept {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
} // namespace detail

/// The Philox4x32 block function with 10 rounds.
constexpr std::array<std::uint32_t, 4> philox4x32_10(std::array<std::uint32_t, 4> ctr,
                                                     std::array<std::uint32_t, 2> key) noexcept {
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t p0 = static_cast<std::uint64_t>(detail::philox_m0) * ctr[0];
    const std::uint64_t p1 = static_cast<std::uint64_t>(detail::philox_m1) * ctr[2];
    const auto hi0 = static_cast<std::uint32_t>(p0 >> 32), lo0 = static_cast<std::uint32_t>(p0);
    const auto hi1 = static_cast<std::uint32_t>(p1 >> 32), lo1 = static_cast<std::uint32_t>(p1);
    ctr = {hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0};
    key[0] += detail::philox_w0;
    key[1] += detail::philox_w1;
  }
  return ctr;
}

/// Turns 64 random bits into a double uniform on the open interval (0, 1): 52 bits plus half a step, so the
/// values are exact doubles in [2^-53, 1 - 2^-53] (with 53 bits the top value would round to 1), neither 0 nor 1
/// is possible, and log(u), log(-log(u)) are always finite.
constexpr double bits_to_open_unit(std::uint32_t hi, std::uint32_t lo) noexcept {
  const std::uint64_t bits52 = ((static_cast<std::uint64_t>(hi) << 32) | lo) >> 12;
  return (static_cast<double>(bits52) + 0.5) * 0x1.0p-52;
}

/// A keyed, stateless random source. `uniform(row, position, step, index)` is the same number every time it is
/// asked for, in any thread, in any batch.
class counter_rng {
public:
  constexpr counter_rng(std::uint64_t seed, rng_stream stream) noexcept
      : m_seed(seed), m_stream(static_cast<std::uint32_t>(stream)) {}

  /// Two independent uniforms in (0, 1) for one (row, position, step, index) cell.
  [[nodiscard]] constexpr std::array<double, 2> uniform2(std::uint64_t row_key, std::uint32_t position,
                                                         std::uint32_t step, std::uint32_t index = 0) const noexcept {
    const std::uint64_t k =
        detail::splitmix64(m_seed ^ detail::splitmix64((static_cast<std::uint64_t>(m_stream) << 32) | (row_key >> 32)));
    const auto out = philox4x32_10({index, position, step, static_cast<std::uint32_t>(row_key)},
                                   {static_cast<std::uint32_t>(k), static_cast<std::uint32_t>(k >> 32)});
    return {bits_to_open_unit(out[0], out[1]), bits_to_open_unit(out[2], out[3])};
  }

  /// One uniform in (0, 1).
  [[nodiscard]] constexpr double uniform(std::uint64_t row_key, std::uint32_t position, std::uint32_t step,
                                         std::uint32_t index = 0) const noexcept {
    return uniform2(row_key, position, step, index)[0];
  }

  /// A standard Gumbel draw, -log(-log(u)), computed in double so that the tail is not cut off by float rounding.
  [[nodiscard]] double gumbel(std::uint64_t row_key, std::uint32_t position, std::uint32_t step,
                              std::uint32_t index) const noexcept {
    return -std::log(-std::log(uniform(row_key, position, step, index)));
  }

  /// An integer uniform in [0, n) (n > 0), by multiply-shift on 32 random bits (bias below 2^-32 n).
  [[nodiscard]] std::uint32_t below(std::uint32_t n, std::uint64_t row_key, std::uint32_t position, std::uint32_t step,
                                    std::uint32_t index = 0) const noexcept {
    const double u = uniform(row_key, position, step, index);
    const auto v = static_cast<std::uint32_t>(u * n);
    return v < n ? v : n - 1;
  }

  [[nodiscard]] constexpr std::uint64_t seed() const noexcept { return m_seed; }

private:
  std::uint64_t m_seed;
  std::uint32_t m_stream;
};

/// The largest Gumbel value the double sampler above can produce: u <= 1 - 2^-53 gives -log(-log(u)) < 36.8.
/// Token sampling uses it to skip noise for tokens that cannot win (exactly: results are unchanged).
inline constexpr double gumbel_upper_bound = 36.8;

} // namespace apgen
