#pragma once
/// \file
/// One pass over a position's token logits: the argmax, the two largest logits, and the softmax normaliser and
/// entropy sums. Every confidence measure and every token choice reads this summary, so the L x V scores are
/// streamed once for the max and once for the exponentials (the second read hits cache for one position).
/// `serial` is the scalar reference (double accumulation); `simd`/`omp` use xsimd vectors.

#include <apgen/backends/tags.hpp>
#include <apgen/config.hpp>
#include <apgen/core/simd_exp.hpp>
#include <apgen/core/simd_partial.hpp>

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
    if (z[j] == -std::numeric_limits<float>::infinity()) continue; // an impossible token: probability 0, no entropy term
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

/// The vector path, one read of the logits: per lane it keeps the top two values, the first index of the largest,
/// and an online softmax (a running max with the sums of exp(v - max) and (v - max) exp(v - max), rescaled in the
/// rare steps where a lane's max grows). Lanes are merged at the end, in double.
inline distribution_summary summarize_vector(std::span<const float> z, const token_filter& f) {
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
  const batch lanes = batch::load_aligned(lane_index.data());
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
        sz = scale * simd::fmadd(shift, s, sz);
        s = s * scale;
        a2 = xsimd::max(a2, xsimd::min(a1, v));
        ai = xsimd::select(better, lanes + batch(static_cast<float>(j)), ai);
        a1 = grown;
      } else {
        a2 = xsimd::max(a2, v);
      }
      const batch d = xsimd::select(v == minus_inf, floor_value, xsimd::max(floor_value, v - a1)); // max keeps NaN
      const batch ex = exp_nonpositive(d);
      s += ex;
      sz = simd::fmadd(d, ex, sz);
    };
    // The range's last partial vector has its missing lanes at -inf: impossible tokens, which add ~0 (no scalar
    // tail, whose double exp calls into libm cost more than the vector loop).
    for (std::size_t j = b; j < e; j += W) add(j + W <= e ? batch::load_unaligned(data + j) : simd::load_partial(data + j, e - j, neg_inf), j);
    m1 = a1;
    m2 = a2;
    at = ai;
    se = s;
    sze = sz;
  });
  alignas(64) std::array<float, W> a1{}, a2{}, ai{};
  m1.store_aligned(a1.data());
  m2.store_aligned(a2.data());
  at.store_aligned(ai.data());
  // Top-2 and first argmax over lanes.
  distribution_summary s;
  for (std::size_t k = 0; k < W; ++k)
    for (float v : {a1[k], a2[k]}) {
      if (v > s.top1) {
        s.top2 = s.top1;
        s.top1 = v;
      } else if (v > s.top2) {
        s.top2 = v;
      }
    }
  token_id first = -1;
  for (std::size_t k = 0; k < W; ++k)
    if (a1[k] == s.top1 && a1[k] > neg_inf && ai[k] >= 0 && (first < 0 || static_cast<token_id>(ai[k]) < first)) first = static_cast<token_id>(ai[k]);
  s.argmax = first;
  if (s.argmax < 0 || !(s.top1 > neg_inf)) {
    s.argmax = -1; // nothing allowed, or nothing finite
    return s;
  }
  // Sums relative to the global max M: lane k holds them relative to its own max m_k, so it is scaled by
  // exp(m_k - M) (one vector exp for all lanes; a lane that saw only -inf has sums ~0 and a scale ~0; a NaN lane
  // keeps its NaN).
  const batch shift = xsimd::max(floor_value, m1 - batch(s.top1));
  const batch scale = exp_nonpositive(shift);
  double total = static_cast<double>(xsimd::hadd(scale * se));
  double total_z = static_cast<double>(xsimd::hadd(scale * simd::fmadd(shift, se, sze)));
  const bool poisoned = total != total || total_z != total_z;
  s.sum_exp = poisoned ? std::numeric_limits<double>::quiet_NaN() : total;
  s.sum_zexp = total_z;
  return s;
}

} // namespace detail

/// Summary of one position's logits on a backend (vector code for simd/omp, the scalar reference for serial).
template <class Backend>
[[nodiscard]] distribution_summary summarize(std::span<const float> z, const token_filter& f) {
  // Below a few vectors the lane bookkeeping costs more than it saves: small vocabularies take the scalar path.
  if constexpr (Backend::vectorized)
    return z.size() >= 4 * xsimd::batch<float>::size ? detail::summarize_vector(z, f) : detail::summarize_scalar(z, f);
  else
    return detail::summarize_scalar(z, f);
}

} // namespace apgen::sampling
