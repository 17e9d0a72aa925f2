#pragma once
/// \file
/// The serial backend's logit pass, in plain scalar code. Two functions:
///   - `summarize_small`: the double-precision pass every backend takes below backends::small_vocabulary;
///   - `summarize_lanes`: the simd backend's one-read online softmax (backends/simd/summarize.hpp) computed one
///     lane at a time with the scalar twins of its arithmetic, so its result equals the vector pass's bit for bit
///     and serial and simd rank near-ties alike. It is the readable reference of the vector kernel.
/// The filter is any type with `for_each_allowed_range(vocab, f(begin, end))` (sampling::token_filter is one).

#include <apgen/backends/distribution_summary.hpp>
#include <apgen/backends/serial/lane_math.hpp>
#include <apgen/config.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <span>

namespace apgen::backends::serial_impl {

/// The double-precision pass: a max pass, then exp(z - max) summed in double.
template <class Filter>
[[nodiscard]] distribution_summary summarize_small(std::span<const float> z, const Filter& f) {
  distribution_summary s;
  f.for_each_allowed_range(z.size(), [&](std::size_t b, std::size_t e) {
    for (std::size_t j = b; j < e; ++j) {
      const float v = z[j];
      if (v > s.top1) {
        s.top2 = s.top1;
        s.top1 = v;
        s.argmax = static_cast<token_id>(j);
      } else if (v > s.top2) {
        s.top2 = v;
      } else if (v != v) {
        s.sum_exp = std::numeric_limits<double>::quiet_NaN(); // remembered until the exp pass adds to it
      }
    }
  });
  if (s.argmax < 0) return s;
  double se = s.sum_exp, sze = 0; // sum_exp carries a NaN flag from the max pass
  f.for_each_allowed_range(z.size(), [&](std::size_t b, std::size_t e) {
    for (std::size_t j = b; j < e; ++j) {
      if (z[j] == -std::numeric_limits<float>::infinity()) continue; // impossible token: probability 0
      const double d = static_cast<double>(z[j]) - s.top1;
      const double ex = std::exp(d);
      se += ex;
      sze += d * ex;
    }
  });
  s.sum_exp = se;
  s.sum_zexp = sze;
  return s;
}

/// The state one vector lane keeps through the pass.
struct lane_state {
  float top1 = -std::numeric_limits<float>::infinity();
  float top2 = -std::numeric_limits<float>::infinity();
  float index = -1.0f; ///< first index of top1, as a float (exact below 2^24, far above any vocabulary)
  float sum = 0.0f;    ///< sum of exp(v - top1)
  float sum_z = 0.0f;  ///< sum of (v - top1) exp(v - top1)
};

/// The lanes' results merged: the global top two, the first argmax, and the sums rescaled to the global max
/// (lane k's scale exp(top1_k - top1) applied, then lanes added in order 0, 1, ... in float).
template <std::size_t Lanes>
[[nodiscard]] distribution_summary merge_lanes(const std::array<lane_state, Lanes>& lane) {
  constexpr float neg_inf = -std::numeric_limits<float>::infinity();
  distribution_summary s;
  for (const auto& l : lane)
    for (float v : {l.top1, l.top2}) {
      if (v > s.top1) {
        s.top2 = s.top1;
        s.top1 = v;
      } else if (v > s.top2) {
        s.top2 = v;
      }
    }
  token_id first = -1;
  for (const auto& l : lane)
    if (l.top1 == s.top1 && l.top1 > neg_inf && l.index >= 0 && (first < 0 || static_cast<token_id>(l.index) < first))
      first = static_cast<token_id>(l.index);
  s.argmax = first;
  if (s.argmax < 0 || !(s.top1 > neg_inf)) {
    s.argmax = -1; // nothing allowed, or nothing finite
    return s;
  }
  float total = 0.0f, total_z = 0.0f;
  for (const auto& l : lane) {
    const float shift = lane_max(-87.0f, l.top1 - s.top1);
    const float scale = lane_exp_nonpositive(shift);
    const float scaled = scale * l.sum;
    const float scaled_z = scale * lane_fmadd(shift, l.sum, l.sum_z);
    total += scaled;
    total_z += scaled_z;
  }
  const bool poisoned = total != total || total_z != total_z;
  s.sum_exp = poisoned ? std::numeric_limits<double>::quiet_NaN() : static_cast<double>(total);
  s.sum_zexp = static_cast<double>(total_z);
  return s;
}

/// One logit v (at index j + lane) into a lane: the vector pass's update, one lane of it. A lane whose max does
/// not grow is unchanged by the vector code's rescale branch (its shift is 0 and exp(0) is exactly 1), so each
/// lane can be followed on its own.
inline void add_to_lane(lane_state& l, float v, float index) noexcept {
  constexpr float neg_inf = -std::numeric_limits<float>::infinity();
  if (v > l.top1) {
    const float grown = lane_max(l.top1, v);
    const float shift = lane_max(-87.0f, l.top1 - grown);
    const float scale = lane_exp_nonpositive(shift);
    l.sum_z = scale * lane_fmadd(shift, l.sum, l.sum_z);
    l.sum = l.sum * scale;
    l.top2 = lane_max(l.top2, lane_min(l.top1, v));
    l.index = index;
    l.top1 = grown;
  } else {
    l.top2 = lane_max(l.top2, v);
  }
  const float d = v == neg_inf ? -87.0f : lane_max(-87.0f, v - l.top1);
  const float ex = lane_exp_nonpositive(d);
  l.sum += ex;
  l.sum_z = lane_fmadd(d, ex, l.sum_z);
}

/// The simd backend's pass with `Lanes` lanes, one lane at a time: each allowed range is read in chunks of Lanes
/// from its start, a chunk's missing lanes are -inf (impossible tokens).
template <std::size_t Lanes, class Filter>
[[nodiscard]] distribution_summary summarize_lanes(std::span<const float> z, const Filter& f) {
  constexpr float neg_inf = -std::numeric_limits<float>::infinity();
  std::array<lane_state, Lanes> lane{};
  f.for_each_allowed_range(z.size(), [&](std::size_t b, std::size_t e) {
    for (std::size_t j = b; j < e; j += Lanes)
      for (std::size_t k = 0; k < Lanes; ++k)
        add_to_lane(lane[k], j + k < e ? z[j + k] : neg_inf, static_cast<float>(k) + static_cast<float>(j));
  });
  return merge_lanes(lane);
}

/// The serial backend's summary: the double pass below small_vocabulary floats, the lane pass above, with as many
/// lanes as the build's float vector (\p Lanes), so that it decides as the simd backend does.
template <std::size_t Lanes, class Filter>
[[nodiscard]] distribution_summary summarize(std::span<const float> z, const Filter& f) {
  return z.size() >= small_vocabulary<Lanes> ? summarize_lanes<Lanes>(z, f) : summarize_small(z, f);
}

} // namespace apgen::backends::serial_impl
