#pragma once
/// \file
/// Row-wise kernels of the transformer, written as Eigen array expressions so they vectorise: layer norm, exact
/// (erf) GELU, SiLU gating, rotary embeddings, and a numerically stable softmax. Each works on a block of rows so
/// threads can split a batch by rows.

#include <apgen/interop/eigen.hpp>

#include <unsupported/Eigen/SpecialFunctions>
#include <apgen/backends/simd/exp.hpp>
#include <apgen/backends/simd/partial.hpp>

#include <xsimd/xsimd.hpp>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace apgen::nn {

using row_block = Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0, Eigen::OuterStride<>>;

namespace detail {
using simd::load_partial;
using simd::store_partial;

/// Calls f(x, g) on Eigen array maps of the n floats at p (written back) and at g (read only; p again when g is
/// null), over one row, so that every float is computed by the same vector code wherever the row starts. Eigen's
/// array loops peel scalar iterations until their stores are aligned, and its scalar erf/exp round differently
/// from its vector ones, so a row whose address had another alignment (a different place in the batch, with a
/// row width such as d_ff = 130) came out different. Rows that are aligned (as far as the build's vectors need)
/// and a whole number of 16 floats run in place; any other row goes through aligned blocks of `chunk` floats,
/// zero-padded, that Eigen covers with whole vectors.
template <class F>
void for_row_in_whole_vectors(float* p, const float* g, std::size_t n, F&& f) {
  constexpr std::size_t chunk = 256;
  if (g == nullptr) g = p;
  // Eigen vectorises a map only up to the alignment the build allows (16 bytes without AVX): a map declared more
  // aligned than that ran as scalar code, std::erf and all.
  const auto aligned = [](const float* q) { return reinterpret_cast<std::uintptr_t>(q) % EIGEN_MAX_ALIGN_BYTES == 0; };
  if (aligned(p) && aligned(g) && n % 16 == 0) {
    const auto m = static_cast<Eigen::Index>(n);
    f(Eigen::Map<Eigen::ArrayXf, Eigen::AlignedMax>(p, m), Eigen::Map<const Eigen::ArrayXf, Eigen::AlignedMax>(g, m));
    return;
  }
  alignas(64) float block[chunk], other[chunk];
  for (std::size_t j = 0; j < n; j += chunk) {
    const std::size_t len = std::min(chunk, n - j);
    std::copy(p + j, p + j + len, block);
    std::fill(block + len, block + chunk, 0.0f);
    std::copy(g + j, g + j + len, other);
    std::fill(other + len, other + chunk, 0.0f);
    f(Eigen::Map<Eigen::Array<float, chunk, 1>, Eigen::AlignedMax>(block), Eigen::Map<const Eigen::Array<float, chunk, 1>, Eigen::AlignedMax>(other));
    std::copy(block, block + len, p + j);
  }
}
} // namespace detail

/// Sum of a[i] * b[i], i < n, in an order that depends on n alone (whole vectors, then the zero-padded last
/// one), not on where a and b sit in memory.
[[nodiscard]] inline float dot_product(const float* a, const float* b, std::size_t n) noexcept {
  using batch = xsimd::batch<float>;
  constexpr std::size_t W = batch::size;
  const std::size_t body = n - n % W;
  batch acc(0.0f);
  for (std::size_t j = 0; j < body; j += W) acc = simd::fmadd(batch::load_unaligned(a + j), batch::load_unaligned(b + j), acc);
  if (body < n) acc = simd::fmadd(detail::load_partial(a + body, n - body, 0.0f), detail::load_partial(b + body, n - body, 0.0f), acc);
  return xsimd::hadd(acc);
}

/// y = (x - mean) / sqrt(var + eps) * w + b for each row (biased variance, as PyTorch's LayerNorm). Written with
/// unaligned vector loads and a masked last vector, so a row's sums run in an order set by its width alone.
template <class In, class Out, class W>
void layer_norm_rows(const In& x, Out& y, const W& w, const W& b, float eps) {
  using batch = xsimd::batch<float>;
  constexpr std::size_t L = batch::size;
  const auto n = static_cast<std::size_t>(x.cols());
  const std::size_t body = n - n % L, rest = n - body;
  const float d = static_cast<float>(n);
  const float* wp = w.data();
  const float* bp = b.data();
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    const float* p = x.row(i).data();
    float* q = y.row(i).data();
    batch acc(0.0f);
    for (std::size_t j = 0; j < body; j += L) acc += batch::load_unaligned(p + j);
    if (rest) acc += detail::load_partial(p + body, rest, 0.0f);
    const float mean = xsimd::hadd(acc) / d;
    const batch m(mean);
    batch sq(0.0f);
    for (std::size_t j = 0; j < body; j += L) {
      const batch c = batch::load_unaligned(p + j) - m;
      sq = simd::fmadd(c, c, sq);
    }
    if (rest) { // lanes past the row hold the mean, so they add 0
      const batch c = detail::load_partial(p + body, rest, mean) - m;
      sq = simd::fmadd(c, c, sq);
    }
    const batch inv(1.0f / std::sqrt(xsimd::hadd(sq) / d + eps));
    for (std::size_t j = 0; j < body; j += L)
      simd::fmadd((batch::load_unaligned(p + j) - m) * inv, batch::load_unaligned(wp + j), batch::load_unaligned(bp + j)).store_unaligned(q + j);
    if (rest)
      detail::store_partial(q + body, rest,
                            simd::fmadd((detail::load_partial(p + body, rest, mean) - m) * inv, detail::load_partial(wp + body, rest, 0.0f),
                                        detail::load_partial(bp + body, rest, 0.0f)));
  }
}

/// Exact GELU, x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), in place (PyTorch's default nn.GELU()), row by row in
/// whole vectors (detail::for_row_in_whole_vectors).
template <class M>
void gelu_in_place(M&& x) {
  const auto n = static_cast<std::size_t>(x.cols());
  for (Eigen::Index i = 0; i < x.rows(); ++i)
    detail::for_row_in_whole_vectors(x.row(i).data(), nullptr, n, [](auto&& a, auto&&) { a = 0.5f * a * (1.0f + (a * 0.70710678118654752f).erf()); });
}

/// u = silu(gate) * up, written into up (SwiGLU), row by row in whole vectors.
template <class G, class U>
void swiglu_in_place(const G& gate, U&& up) {
  const auto n = static_cast<std::size_t>(up.cols());
  for (Eigen::Index i = 0; i < up.rows(); ++i)
    detail::for_row_in_whole_vectors(up.row(i).data(), gate.row(i).data(), n, [](auto&& u, auto&& g) { u = u * g / (1.0f + (-g).exp()); });
}

/// cos/sin of rotary angles, for positions [0, max_positions) and frequency index [0, head_dim / 2):
/// theta(p, i) = p * base^(-2i / head_dim). Grown on demand, never shrunk.
class rope_table {
public:
  void ensure(std::size_t max_positions, std::size_t head_dim, double base) {
    if (max_positions <= m_positions && head_dim == m_dim && base == m_base) return;
    m_positions = std::max(max_positions, 2 * m_positions);
    m_dim = head_dim;
    m_base = base;
    const std::size_t half = head_dim / 2;
    m_cos.resize(m_positions * half);
    m_sin.resize(m_positions * half);
    for (std::size_t p = 0; p < m_positions; ++p)
      for (std::size_t i = 0; i < half; ++i) {
        const double theta = static_cast<double>(p) * std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(head_dim));
        m_cos[p * half + i] = static_cast<float>(std::cos(theta));
        m_sin[p * half + i] = static_cast<float>(std::sin(theta));
      }
  }
  [[nodiscard]] const float* cos_row(std::size_t p) const noexcept { return m_cos.data() + p * (m_dim / 2); }
  [[nodiscard]] const float* sin_row(std::size_t p) const noexcept { return m_sin.data() + p * (m_dim / 2); }

private:
  std::size_t m_positions = 0, m_dim = 0;
  double m_base = 0;
  std::vector<float> m_cos, m_sin;
};

/// Rotates `slices` consecutive head vectors of width dim, all at one position, in place ("rotate half"
/// convention): for i < h = dim/2, (x_i, x_{i+h}) -> (x_i cos - x_{i+h} sin, x_{i+h} cos + x_i sin).
inline void rope_apply(float* x, const float* c, const float* s, std::size_t dim, std::size_t slices = 1) noexcept {
  using batch = xsimd::batch<float>;
  constexpr std::size_t W = batch::size;
  const std::size_t h = dim / 2;
  std::size_t i = 0;
  // One position's cos/sin serve every slice (all heads of q and k), so they are loaded once per vector.
  for (; i + W <= h; i += W) {
    const batch cv = batch::load_unaligned(c + i), sv = batch::load_unaligned(s + i);
    for (std::size_t k = 0; k < slices; ++k) {
      float* p = x + k * dim;
      const batch a = batch::load_unaligned(p + i), b = batch::load_unaligned(p + i + h);
      simd::fmadd(a, cv, -(b * sv)).store_unaligned(p + i);
      simd::fmadd(b, cv, a * sv).store_unaligned(p + i + h);
    }
  }
  for (; i < h; ++i)
    for (std::size_t k = 0; k < slices; ++k) {
      float* p = x + k * dim;
      const float a = p[i], b = p[i + h];
      p[i] = a * c[i] - b * s[i];
      p[i + h] = b * c[i] + a * s[i];
    }
}

namespace detail {
inline float reduce_max(xsimd::batch<float> v) {
#if defined(__AVX512F__)
  if constexpr (xsimd::batch<float>::size == 16) return _mm512_reduce_max_ps(v);
#endif
  alignas(64) float lanes[xsimd::batch<float>::size];
  v.store_aligned(lanes);
  return *std::max_element(lanes, lanes + xsimd::batch<float>::size);
}
} // namespace detail

/// softmax(scale * s) of each row in place; entries equal to -inf (masked keys) get probability exactly 0. Rows
/// must be contiguous (a row-major block, any row stride). Written with xsimd and unaligned loads: Eigen's array
/// exp peels scalar iterations until its loads are aligned, and attention rows (81 scores at odd offsets) spent
/// most of their exp time there. A row's last partial vector is read and written with masks (-inf beyond the row,
/// which exp turns into 0), so rows of any length stay in vector code. With `inverse_sums`, rows are left as
/// exponentials and row i's 1 / sum goes to inverse_sums[i], for a consumer that scales its own output instead
/// (one pass over the scores fewer).
template <class M>
void softmax_rows(M&& s, float scale = 1.0f, float* inverse_sums = nullptr) {
  using batch = xsimd::batch<float>;
  constexpr std::size_t W = batch::size;
  const auto n = static_cast<std::size_t>(s.cols());
  const std::size_t body = n - n % W, rest = n - body;
  const float neg_inf = -std::numeric_limits<float>::infinity();
  const batch k(scale), zero(0.0f), minus_inf(neg_inf);
  for (Eigen::Index i = 0; i < s.rows(); ++i) {
    float* p = s.row(i).data();
    batch top(neg_inf);
    for (std::size_t j = 0; j < body; j += W) top = xsimd::max(top, batch::load_unaligned(p + j));
    if (rest) top = xsimd::max(top, detail::load_partial(p + body, rest, neg_inf));
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
      tail = exp_or_zero(detail::load_partial(p + body, rest, neg_inf));
      acc += tail;
    }
    const float inv_sum = 1.0f / xsimd::hadd(acc);
    if (inverse_sums) {
      inverse_sums[i] = inv_sum;
      if (rest) detail::store_partial(p + body, rest, tail);
      continue;
    }
    const batch inv(inv_sum);
    for (std::size_t j = 0; j < body; j += W) (batch::load_unaligned(p + j) * inv).store_unaligned(p + j);
    if (rest) detail::store_partial(p + body, rest, tail * inv);
  }
}

} // namespace apgen::nn
