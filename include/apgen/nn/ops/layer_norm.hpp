#pragma once
/// \file
/// LayerNorm, forward and backward, the one definition the inference forward and the training pass share:
/// y = (x - mean) / sqrt(var + eps) * w + b per row (biased variance, as PyTorch's LayerNorm). The training pass
/// also keeps the normalised input x_hat and 1 / std of each row for the backward.
///
/// The float forward runs in vectors with unaligned loads and a masked last vector, so a row's sums run in an order
/// set by its width alone (a row gives the same bits wherever it sits in a batch); any other scalar (double, for
/// gradient checks) computes the same function one element at a time.

#include <apgen/backends/simd/fma.hpp>
#include <apgen/backends/simd/partial.hpp>

#include <Eigen/Core>
#include <xsimd/xsimd.hpp>

#include <cmath>
#include <cstddef>
#include <type_traits>

namespace apgen::nn {

namespace detail {

/// One row: q = LN(p) * w + b over n values; with KeepXHat, x_hat receives the normalised input (a compile-time
/// choice, so the inference forward's loop carries no branch for it). Returns 1 / std.
template <bool KeepXHat, class Scalar>
Scalar layer_norm_row(const Scalar* p, Scalar* q, const Scalar* wp, const Scalar* bp, std::size_t n, Scalar eps,
                      Scalar* x_hat) {
  const auto d = static_cast<Scalar>(n);
  if constexpr (std::is_same_v<Scalar, float>) {
    using batch = xsimd::batch<float>;
    constexpr std::size_t L = batch::size;
    const std::size_t body = n - n % L, rest = n - body;
    batch acc(0.0f);
    for (std::size_t j = 0; j < body; j += L) acc += batch::load_unaligned(p + j);
    if (rest) acc += simd::load_partial(p + body, rest, 0.0f);
    const float mean = xsimd::hadd(acc) / d;
    const batch m(mean);
    batch sq(0.0f);
    for (std::size_t j = 0; j < body; j += L) {
      const batch c = batch::load_unaligned(p + j) - m;
      sq = simd::fmadd(c, c, sq);
    }
    if (rest) { // lanes past the row hold the mean, so they add 0
      const batch c = simd::load_partial(p + body, rest, mean) - m;
      sq = simd::fmadd(c, c, sq);
    }
    const float r = 1.0f / std::sqrt(xsimd::hadd(sq) / d + eps);
    const batch inv(r);
    for (std::size_t j = 0; j < body; j += L) {
      const batch xh = (batch::load_unaligned(p + j) - m) * inv;
      if constexpr (KeepXHat) xh.store_unaligned(x_hat + j);
      simd::fmadd(xh, batch::load_unaligned(wp + j), batch::load_unaligned(bp + j)).store_unaligned(q + j);
    }
    if (rest) {
      const batch xh = (simd::load_partial(p + body, rest, mean) - m) * inv;
      if constexpr (KeepXHat) simd::store_partial(x_hat + body, rest, xh);
      simd::store_partial(
          q + body, rest,
          simd::fmadd(xh, simd::load_partial(wp + body, rest, 0.0f), simd::load_partial(bp + body, rest, 0.0f)));
    }
    return r;
  } else {
    Scalar sum = 0;
    for (std::size_t j = 0; j < n; ++j) sum += p[j];
    const Scalar mean = sum / d;
    Scalar sq = 0;
    for (std::size_t j = 0; j < n; ++j) sq += (p[j] - mean) * (p[j] - mean);
    const Scalar r = Scalar(1) / std::sqrt(sq / d + eps);
    for (std::size_t j = 0; j < n; ++j) {
      const Scalar xh = (p[j] - mean) * r;
      if constexpr (KeepXHat) x_hat[j] = xh;
      q[j] = xh * wp[j] + bp[j];
    }
    return r;
  }
}

} // namespace detail

/// y = LN(x) * w + b for each row of x (row-major blocks; y may be x).
template <class In, class Out, class W>
void layer_norm_rows(const In& x, Out&& y, const W& w, const W& b, typename W::Scalar eps) {
  const auto n = static_cast<std::size_t>(x.cols());
  for (Eigen::Index i = 0; i < x.rows(); ++i)
    (void)detail::layer_norm_row<false, typename W::Scalar>(x.row(i).data(), y.row(i).data(), w.data(), b.data(), n,
                                                            eps, nullptr);
}

/// The training form: also writes each row's normalised input into x_hat and its 1 / std into rstd[i].
template <class In, class Out, class XH, class W>
void layer_norm_rows(const In& x, Out&& y, const W& w, const W& b, typename W::Scalar eps, XH&& x_hat,
                     typename W::Scalar* rstd) {
  const auto n = static_cast<std::size_t>(x.cols());
  for (Eigen::Index i = 0; i < x.rows(); ++i)
    rstd[i] = detail::layer_norm_row<true, typename W::Scalar>(x.row(i).data(), y.row(i).data(), w.data(), b.data(), n,
                                                               eps, x_hat.row(i).data());
}

/// Backward of LN over the rows of dy: writes the input gradient into dx (adds it with `accumulate`, the residual
/// form) and accumulates dw, db. With g = dy * w: dx = (g - mean(g) - x_hat * mean(g * x_hat)) / std.
template <class Scalar, class DY, class XH, class W, class G, class DX>
void layer_norm_backward_rows(const DY& dy, const XH& x_hat, const Scalar* rstd, const W& w, G& dw, G& db, DX&& dx,
                              bool accumulate) {
  const auto d = static_cast<Scalar>(dy.cols());
  for (Eigen::Index i = 0; i < dy.rows(); ++i) {
    const auto gr = dy.row(i);
    const auto xr = x_hat.row(i);
    dw.array() += gr.array() * xr.array();
    db += gr;
    // g = dy * w, recomputed in each expression rather than stored (no scratch row).
    const Scalar mean_g = (gr.array() * w.array()).sum() / d;
    const Scalar mean_gx = (gr.array() * w.array() * xr.array()).sum() / d;
    if (accumulate)
      dx.row(i).array() += (gr.array() * w.array() - mean_g - xr.array() * mean_gx) * rstd[i];
    else
      dx.row(i).array() = (gr.array() * w.array() - mean_g - xr.array() * mean_gx) * rstd[i];
  }
}

} // namespace apgen::nn
