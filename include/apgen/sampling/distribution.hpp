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

/// The vector path: per-lane top-2 and argmax, vector exp, float lanes summed into double at the end.
inline distribution_summary summarize_vector(std::span<const float> z, const token_filter& f) {
  using batch = xsimd::batch<float>;
  constexpr std::size_t W = batch::size;
  const float neg_inf = -std::numeric_limits<float>::infinity();
  distribution_summary s;
  batch m1(neg_inf), m2(neg_inf);
  bool saw_nan = false;
  f.for_each_allowed_range(z.size(), [&](std::size_t b, std::size_t e) {
    std::size_t j = b;
    for (; j + W <= e; j += W) {
      const batch v = batch::load_unaligned(z.data() + j);
      saw_nan = saw_nan || xsimd::any(v != v);
      m2 = xsimd::max(m2, xsimd::min(m1, v));
      m1 = xsimd::max(m1, v);
    }
    scalar_max_pass(z.data(), j, e, s);
  });
  alignas(64) std::array<float, W> a1{}, a2{};
  m1.store_aligned(a1.data());
  m2.store_aligned(a2.data());
  // Merge lanes with the scalar tail's top-2: the two largest of all candidates, ties kept.
  float t1 = s.top1, t2 = s.top2;
  for (std::size_t k = 0; k < W; ++k)
    for (float v : {a1[k], a2[k]}) {
      if (v > t1) {
        t2 = t1;
        t1 = v;
      } else if (v > t2) {
        t2 = v;
      }
    }
  if (!(t1 > neg_inf) && s.argmax < 0) return s; // nothing allowed, or all -inf
  s.top1 = t1;
  s.top2 = t2;
  // First index holding the maximum.
  s.argmax = -1;
  f.for_each_allowed_range(z.size(), [&](std::size_t b, std::size_t e) {
    if (s.argmax >= 0) return;
    std::size_t j = b;
    const batch target(t1);
    for (; j + W <= e; j += W)
      if (xsimd::any(batch::load_unaligned(z.data() + j) == target)) break;
    for (; j < e; ++j)
      if (z[j] == t1) {
        s.argmax = static_cast<token_id>(j);
        return;
      }
  });
  batch se(0.f), sze(0.f);
  double tail_se = saw_nan || s.sum_exp != s.sum_exp ? std::numeric_limits<double>::quiet_NaN() : 0.0, tail_sze = 0;
  const batch mb(t1);
  f.for_each_allowed_range(z.size(), [&](std::size_t b, std::size_t e) {
    std::size_t j = b;
    for (; j + W <= e; j += W) {
      const batch d = batch::load_unaligned(z.data() + j) - mb;
      const batch ex = xsimd::exp(d);
      se += ex;
      sze = xsimd::fma(d, ex, sze);
    }
    scalar_exp_pass(z.data(), j, e, t1, tail_se, tail_sze);
  });
  s.sum_exp = static_cast<double>(xsimd::hadd(se)) + tail_se;
  s.sum_zexp = static_cast<double>(xsimd::hadd(sze)) + tail_sze;
  if (s.argmax < 0) s.sum_exp = std::numeric_limits<double>::quiet_NaN(); // max was NaN-poisoned: report it
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
