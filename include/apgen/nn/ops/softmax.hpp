#pragma once
/// \file
/// The transformer's two softmaxes, each defined once for the inference forward and the training pass:
///   - attention: softmax of each score row in place, masked keys (-inf) getting probability exactly 0;
///   - tokens: the token head's log-normaliser with MASK excluded (MASK is never a prediction: inference gives it
///     -inf, training normalises over the other ids) and, where a task restricts a position, every id outside its
///     allowed set excluded too (the token pass restricts the same softmax, sampling/choose_tokens.hpp).
/// Floats run in vectors (the forward's numerics); any other scalar (double, for gradient checks) computes the same
/// function one element at a time.

#include <apgen/backends/simd/exp.hpp>
#include <apgen/backends/simd/partial.hpp>

#include <Eigen/Core>
#include <xsimd/xsimd.hpp>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <type_traits>

namespace apgen::nn {

namespace detail {
inline float reduce_max(xsimd::batch<float> v) {
#if defined(__AVX512F__)
  if constexpr (xsimd::batch<float>::size == 16) return _mm512_reduce_max_ps(v);
#endif
  alignas(64) float lanes[xsimd::batch<float>::size];
  v.store_aligned(lanes);
  return *std::max_element(lanes, lanes + xsimd::batch<float>::size);
}

/// softmax(scale * p[0..n)) in place, or the exponentials and 1 / sum into *inverse_sum (generic scalar path).
template <class Scalar>
void softmax_row_scalar(Scalar* p, std::size_t n, Scalar scale, Scalar* inverse_sum) {
  Scalar top = -std::numeric_limits<Scalar>::infinity();
  for (std::size_t j = 0; j < n; ++j) top = std::max(top, p[j]);
  Scalar sum = 0;
  for (std::size_t j = 0; j < n; ++j) {
    p[j] = p[j] == -std::numeric_limits<Scalar>::infinity() ? Scalar(0) : std::exp((p[j] - top) * scale);
    sum += p[j];
  }
  const Scalar inv = Scalar(1) / sum;
  if (inverse_sum) {
    *inverse_sum = inv;
    return;
  }
  for (std::size_t j = 0; j < n; ++j) p[j] *= inv;
}
} // namespace detail

/// softmax(scale * s) of each row in place; entries equal to -inf (masked keys) get probability exactly 0. Rows
/// must be contiguous (a row-major block, any row stride). The float path is written with xsimd and unaligned
/// loads: Eigen's array exp peels scalar iterations until its loads are aligned, and attention rows (81 scores at
/// odd offsets) spent most of their exp time there. A row's last partial vector is read and written with masks
/// (-inf beyond the row, which exp turns into 0), so rows of any length stay in vector code. With `inverse_sums`,
/// rows are left as exponentials and row i's 1 / sum goes to inverse_sums[i], for a consumer that scales its own
/// output instead (one pass over the scores fewer).
template <class M, class Scalar = typename std::remove_cvref_t<M>::Scalar>
void softmax_rows(M&& s, Scalar scale = Scalar(1), Scalar* inverse_sums = nullptr) {
  const auto n = static_cast<std::size_t>(s.cols());
  if constexpr (!std::is_same_v<Scalar, float>) {
    for (Eigen::Index i = 0; i < s.rows(); ++i)
      detail::softmax_row_scalar(s.row(i).data(), n, scale, inverse_sums ? inverse_sums + i : nullptr);
  } else {
    using batch = xsimd::batch<float>;
    constexpr std::size_t W = batch::size;
    const std::size_t body = n - n % W, rest = n - body;
    const float neg_inf = -std::numeric_limits<float>::infinity();
    const batch k(scale), zero(0.0f), minus_inf(neg_inf);
    for (Eigen::Index i = 0; i < s.rows(); ++i) {
      float* p = s.row(i).data();
      batch top(neg_inf);
      for (std::size_t j = 0; j < body; j += W) top = xsimd::max(top, batch::load_unaligned(p + j));
      if (rest) top = xsimd::max(top, simd::load_partial(p + body, rest, neg_inf));
      const batch shift(detail::reduce_max(top));
      // exp_nonpositive clamps at -87, so a masked key would get 2^-126 instead of nothing; NaN still propagates.
      const auto exp_or_zero = [&](batch v) {
        const batch z = (v - shift) * k;
        return xsimd::select(z == minus_inf, zero, exp_nonpositive<6>(z));
      };
      batch acc(0.0f);
      for (std::size_t j = 0; j < body; j += W) {
        const batch e = exp_or_zero(batch::load_unaligned(p + j));
        e.store_unaligned(p + j);
        acc += e;
      }
      batch tail(0.0f);
      if (rest) {
        tail = exp_or_zero(simd::load_partial(p + body, rest, neg_inf));
        acc += tail;
      }
      const float inv_sum = 1.0f / xsimd::hadd(acc);
      if (inverse_sums) {
        inverse_sums[i] = inv_sum;
        if (rest) simd::store_partial(p + body, rest, tail);
        continue;
      }
      const batch inv(inv_sum);
      for (std::size_t j = 0; j < body; j += W) (batch::load_unaligned(p + j) * inv).store_unaligned(p + j);
      if (rest) simd::store_partial(p + body, rest, tail * inv);
    }
  }
}

/// log sum over the ids v < V that `candidate(v)` admits of exp(z[v]): the token softmax's log-normaliser, with MASK
/// and any id outside the position's allowed set left out by `candidate`. -inf when nothing is admitted.
template <class Scalar, class Candidate>
[[nodiscard]] Scalar token_log_normaliser(const Scalar* z, std::size_t V, Candidate&& candidate) {
  Scalar top = -std::numeric_limits<Scalar>::infinity();
  for (std::size_t v = 0; v < V; ++v)
    if (candidate(v)) top = std::max(top, z[v]);
  if (top == -std::numeric_limits<Scalar>::infinity()) return top;
  Scalar sum = 0;
  for (std::size_t v = 0; v < V; ++v)
    if (candidate(v)) sum += std::exp(z[v] - top);
  return top + std::log(sum);
}

} // namespace apgen::nn
