#pragma once
/// \file
/// The simd backend's logit pass: one read of the logits in xsimd vectors. Per lane it keeps the top two values,
/// the first index of the largest, and an online softmax (a running max with the sums of exp(v - max) and
/// (v - max) exp(v - max), rescaled in the rare steps where a lane's max grows). The lanes are merged by the
/// serial backend's `merge_lanes`, and `serial_impl::summarize_lanes` is this pass one lane at a time: the two
/// backends agree bit for bit (tests/sampling/test_distribution.cpp checks it on near-ties).

#include <apgen/backends/distribution_summary.hpp>
#include <apgen/backends/serial/summarize.hpp>
#include <apgen/backends/simd/exp.hpp>
#include <apgen/backends/simd/fma.hpp>
#include <apgen/backends/simd/partial.hpp>
#include <apgen/config.hpp>

#include <xsimd/xsimd.hpp>

#include <array>
#include <cstddef>
#include <limits>
#include <span>

namespace apgen::backends::simd_impl {

/// Lanes of the build's float vector.
inline constexpr std::size_t lanes = xsimd::batch<float>::size;

/// The vector pass (any vocabulary size; callers send small ones to serial_impl::summarize_small).
template <class Filter>
[[nodiscard]] distribution_summary summarize_vector(std::span<const float> z, const Filter& f) {
  using batch = xsimd::batch<float>;
  constexpr std::size_t W = batch::size;
  const float neg_inf = -std::numeric_limits<float>::infinity();
  const float* data = z.data();
  // Lane maxima start at -inf. A -inf logit (an impossible token, as SUBS pinning writes) is given the exponent's
  // floor instead of v - max, which would be -inf - -inf in a lane that has seen nothing else: it contributes ~0,
  // and ~0 again once its lane is scaled to the global max. A NaN or +inf logit turns the sums into NaN (v - max
  // is NaN, the exp propagates it) and is reported. The == compare is ordered, so a NaN is never mistaken for
  // -inf.
  batch m1(neg_inf), m2(neg_inf), at(-1.0f), se(0.0f), sze(0.0f);
  const batch minus_inf(neg_inf);
  alignas(64) std::array<float, W> lane_index{};
  for (std::size_t k = 0; k < W; ++k) lane_index[k] = static_cast<float>(k);
  const batch lane_offsets = batch::load_aligned(lane_index.data());
  const batch floor_value(-87.0f);
  f.for_each_allowed_range(z.size(), [&](std::size_t b, std::size_t e) {
    batch a1 = m1, a2 = m2, ai = at, s = se, sz = sze;
    // Indices travel as floats: exact below 2^24, far above any vocabulary.
    const auto add = [&](batch v, std::size_t j) {
      const auto better = v > a1;
      if (xsimd::any(better)) {
        // A lane's max grows: rescale its sums to the new max (exp(old - new) in (0, 1]).
        const batch grown = xsimd::max(a1, v);
        // shift <= 0 (0 where the lane is unchanged), clamped so that a lane's first value gives 0 * finite.
        const batch shift = xsimd::max(floor_value, xsimd::select(better, a1 - grown, batch(0.0f)));
        const batch scale = exp_nonpositive(shift);
        sz = scale * apgen::simd::fmadd(shift, s, sz);
        s = s * scale;
        a2 = xsimd::max(a2, xsimd::min(a1, v));
        ai = xsimd::select(better, lane_offsets + batch(static_cast<float>(j)), ai);
        a1 = grown;
      } else {
        a2 = xsimd::max(a2, v);
      }
      const batch d = xsimd::select(v == minus_inf, floor_value, xsimd::max(floor_value, v - a1)); // max keeps NaN
      const batch ex = exp_nonpositive(d);
      s += ex;
      sz = apgen::simd::fmadd(d, ex, sz);
    };
    // The range's last partial vector has its missing lanes at -inf: impossible tokens, which add ~0 (no scalar
    // tail, whose double exp calls into libm cost more than the vector loop).
    for (std::size_t j = b; j < e; j += W)
      add(j + W <= e ? batch::load_unaligned(data + j) : apgen::simd::load_partial(data + j, e - j, neg_inf), j);
    m1 = a1;
    m2 = a2;
    at = ai;
    se = s;
    sze = sz;
  });
  alignas(64) std::array<float, W> a1{}, a2{}, ai{}, s{}, sz{};
  m1.store_aligned(a1.data());
  m2.store_aligned(a2.data());
  at.store_aligned(ai.data());
  se.store_aligned(s.data());
  sze.store_aligned(sz.data());
  std::array<serial_impl::lane_state, W> lane{};
  for (std::size_t k = 0; k < W; ++k) lane[k] = {a1[k], a2[k], ai[k], s[k], sz[k]};
  return serial_impl::merge_lanes(lane);
}

/// The simd backend's summary: the double pass below small_vocabulary floats, the vector pass above.
template <class Filter>
[[nodiscard]] distribution_summary summarize(std::span<const float> z, const Filter& f) {
  return z.size() >= small_vocabulary<lanes> ? summarize_vector(z, f) : serial_impl::summarize_small(z, f);
}

} // namespace apgen::backends::simd_impl
