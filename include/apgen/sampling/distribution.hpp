#pragma once
/// \file
/// One pass over a position's token logits: the argmax, the two largest logits, and the softmax normaliser and
/// entropy sums. Every confidence measure and every token choice reads this summary, so the L x V scores are
/// streamed once for the max and once for the exponentials (the second read hits cache for one position).
/// `serial` is the scalar reference (double accumulation); `simd`/`omp` use xsimd vectors.

#include <apgen/backends/tags.hpp>
#include <apgen/config.hpp>

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <span>

namespace apgen::sampling {

/// Token ids a choice must never return (MASK always; PAD where the vocabulary has it). At most four, sorted.
class token_filter {
public:
  constexpr token_filter() noexcept = default;
  constexpr explicit token_filter(std::initializer_list<token_id> ids) noexcept {
    for (auto id : ids) add(id);
  }
  constexpr void add(token_id id) noexcept {
    if (id < 0 || m_count == m_ids.size() || excluded(id)) return;
    std::size_t at = m_count++;
    while (at > 0 && m_ids[at - 1] > id) {
      m_ids[at] = m_ids[at - 1];
      --at;
    }
    m_ids[at] = id;
  }
  [[nodiscard]] constexpr bool excluded(token_id id) const noexcept {
    for (std::size_t k = 0; k < m_count; ++k)
      if (m_ids[k] == id) return true;
    return false;
  }
  /// Calls f(begin, end) for each maximal range of allowed ids in [0, vocab).
  template <class F>
  constexpr void for_each_allowed_range(std::size_t vocab, F&& f) const {
    std::size_t begin = 0;
    for (std::size_t k = 0; k < m_count; ++k) {
      const auto id = static_cast<std::size_t>(m_ids[k]);
      if (id >= vocab) break;
      if (id > begin) f(begin, id);
      begin = id + 1;
    }
    if (begin < vocab) f(begin, vocab);
  }

private:
  std::array<token_id, 4> m_ids{};
  std::size_t m_count = 0;
};

/// Softmax statistics of one position's logits z over the allowed tokens.
struct distribution_summary {
  token_id argmax = -1;   ///< first index of the largest allowed logit
  float top1 = -std::numeric_limits<float>::infinity();
  float top2 = -std::numeric_limits<float>::infinity(); ///< second largest (equal to top1 on a tie)
  double sum_exp = 0;     ///< sum of exp(z - top1)
  double sum_zexp = 0;    ///< sum of (z - top1) exp(z - top1), for the entropy

  /// False when a logit was NaN or infinite (the sums are then not finite) or nothing was allowed.
  [[nodiscard]] bool finite() const noexcept { return argmax >= 0 && std::isfinite(top1) && std::isfinite(sum_exp) && std::isfinite(sum_zexp); }
  /// Softmax probability of a token with logit z.
  [[nodiscard]] double probability(float z) const noexcept { return std::exp(static_cast<double>(z) - top1) / sum_exp; }
  /// p(top1) - p(top2).
  [[nodiscard]] double margin() const noexcept { return (1.0 - std::exp(static_cast<double>(top2) - top1)) / sum_exp; }
  /// Shannon entropy in nats.
  [[nodiscard]] double entropy() const noexcept { return std::log(sum_exp) - sum_zexp / sum_exp; }
};

namespace detail {

inline void scalar_max_pass(const float* z, std::size_t begin, std::size_t end, distribution_summary& s) {
  for (std::size_t j = begin; j < end; ++j) {
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
}

inline void scalar_exp_pass(const float* z, std::size_t begin, std::size_t end, float m, double& se, double& sze) {
  for (std::size_t j = begin; j < end; ++j) {
    const double d = static_cast<double>(z[j]) - m;
    const double e = std::exp(d);
    se += e;
    sze += d * e;
  }
}

/// The scalar reference.
inline distribution_summary summarize_scalar(std::span<const float> z, const token_filter& f) {
  distribution_summary s;
  f.for_each_allowed_range(z.size(), [&](std::size_t b, std::size_t e) { scalar_max_pass(z.data(), b, e, s); });
  if (s.argmax < 0) return s;
  double se = s.sum_exp, sze = 0; // sum_exp carries a NaN flag from the max pass
  f.for_each_allowed_range(z.size(), [&](std::size_t b, std::size_t e) { scalar_exp_pass(z.data(), b, e, s.top1, se, sze); });
  s.sum_exp = se;
  s.sum_zexp = sze;
  return s;
}

/// exp(x) for x <= 0 on a vector: Cody-Waite reduction to r in [-ln2/2, ln2/2], a degree-6 Taylor polynomial
/// (relative error < 2e-7) and the exponent put back with an integer add. Inputs below -87 give 2^-126-scale
/// values instead of subnormals. NaN inputs give garbage: callers detect NaN separately. About half the cost of
/// xsimd::exp, which guards the full range.
template <class Batch>
inline Batch exp_nonpositive(Batch x) noexcept {
  x = xsimd::max(x, Batch(-87.0f));
  const Batch n = xsimd::nearbyint(x * Batch(1.44269504088896341f));
  Batch r = xsimd::fma(n, Batch(-0.693359375f), x);
  r = xsimd::fma(n, Batch(2.12194440e-4f), r);
  Batch p(1.0f / 720.0f);
  p = xsimd::fma(p, r, Batch(1.0f / 120.0f));
  p = xsimd::fma(p, r, Batch(1.0f / 24.0f));
  p = xsimd::fma(p, r, Batch(1.0f / 6.0f));
  p = xsimd::fma(p, r, Batch(0.5f));
  p = xsimd::fma(p, r, Batch(1.0f));
  p = xsimd::fma(p, r, Batch(1.0f));
  const auto e = (xsimd::to_int(n) + 127) << 23;
  return p * xsimd::bitwise_cast<Batch>(e);
}

/// The vector path: one pass for per-lane top-2, first argmax index and a NaN flag (all in registers), one pass
/// of exponentials; lanes are merged at the end, float lanes summed into double.
inline distribution_summary summarize_vector(std::span<const float> z, const token_filter& f) {
  using batch = xsimd::batch<float>;
  constexpr std::size_t W = batch::size;
  const float neg_inf = -std::numeric_limits<float>::infinity();
  const float* data = z.data();
  distribution_summary tail; // the scalar tails of each range
  batch m1(neg_inf), m2(neg_inf), at(-1.0f);
  auto nan_seen = batch(0.0f) != batch(0.0f);
  alignas(64) std::array<float, W> lane_index{};
  for (std::size_t k = 0; k < W; ++k) lane_index[k] = static_cast<float>(k);
  const batch lanes = batch::load_aligned(lane_index.data());
  f.for_each_allowed_range(z.size(), [&](std::size_t b, std::size_t e) {
    batch a1 = m1, a2 = m2, ai = at;
    auto bad = nan_seen;
    std::size_t j = b;
    // Indices travel as floats: exact below 2^24, far above any vocabulary.
    for (; j + W <= e; j += W) {
      const batch v = batch::load_unaligned(data + j);
      bad = bad || (v != v);
      const auto better = v > a1;
      a2 = xsimd::max(a2, xsimd::min(a1, v));
      ai = xsimd::select(better, lanes + batch(static_cast<float>(j)), ai);
      a1 = xsimd::max(a1, v);
    }
    m1 = a1;
    m2 = a2;
    at = ai;
    nan_seen = bad;
    scalar_max_pass(data, j, e, tail);
  });
  alignas(64) std::array<float, W> a1{}, a2{}, ai{};
  m1.store_aligned(a1.data());
  m2.store_aligned(a2.data());
  at.store_aligned(ai.data());
  // Merge lanes and the scalar tail: the two largest values (ties kept) and the first index of the largest.
  distribution_summary s = tail;
  for (std::size_t k = 0; k < W; ++k) {
    for (float v : {a1[k], a2[k]}) {
      if (v > s.top1) {
        s.top2 = s.top1;
        s.top1 = v;
      } else if (v > s.top2) {
        s.top2 = v;
      }
    }
  }
  token_id first = -1;
  for (std::size_t k = 0; k < W; ++k)
    if (a1[k] == s.top1 && ai[k] >= 0 && (first < 0 || static_cast<token_id>(ai[k]) < first)) first = static_cast<token_id>(ai[k]);
  if (tail.argmax >= 0 && tail.top1 == s.top1 && (first < 0 || tail.argmax < first)) first = tail.argmax;
  s.argmax = first;
  if (s.argmax < 0 || !(s.top1 > neg_inf)) {
    s.argmax = -1; // nothing allowed, or nothing finite
    return s;
  }
  const bool poisoned = xsimd::any(nan_seen) || tail.sum_exp != tail.sum_exp;
  const float t1 = s.top1;
  const batch mb(t1);
  batch se(0.f), sze(0.f);
  double tail_se = 0, tail_sze = 0;
  f.for_each_allowed_range(z.size(), [&](std::size_t b, std::size_t e) {
    batch acc = se, acc_z = sze;
    std::size_t j = b;
    for (; j + W <= e; j += W) {
      const batch d = batch::load_unaligned(data + j) - mb;
      const batch ex = exp_nonpositive(d);
      acc += ex;
      acc_z = xsimd::fma(d, ex, acc_z);
    }
    se = acc;
    sze = acc_z;
    scalar_exp_pass(data, j, e, t1, tail_se, tail_sze);
  });
  s.sum_exp = poisoned ? std::numeric_limits<double>::quiet_NaN() : static_cast<double>(xsimd::hadd(se)) + tail_se;
  s.sum_zexp = static_cast<double>(xsimd::hadd(sze)) + tail_sze;
  return s;
}

} // namespace detail

/// Summary of one position's logits on a backend (vector code for simd/omp, the scalar reference for serial).
template <class Backend>
[[nodiscard]] distribution_summary summarize(std::span<const float> z, const token_filter& f) {
  if constexpr (Backend::vectorized)
    return detail::summarize_vector(z, f);
  else
    return detail::summarize_scalar(z, f);
}

} // namespace apgen::sampling
