#pragma once
/// \file
/// Row-wise kernels of the transformer, written as Eigen array expressions so they vectorise: layer norm, exact
/// (erf) GELU, SiLU gating, rotary embeddings, and a numerically stable softmax. Each works on a block of rows so
/// threads can split a batch by rows.

#include <apgen/interop/eigen.hpp>

#include <unsupported/Eigen/SpecialFunctions>
#include <apgen/core/simd_exp.hpp>

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

namespace apgen::nn {

using row_block = Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0, Eigen::OuterStride<>>;

/// y = (x - mean) / sqrt(var + eps) * w + b for each row (biased variance, as PyTorch's LayerNorm).
template <class In, class Out, class W>
void layer_norm_rows(const In& x, Out& y, const W& w, const W& b, float eps) {
  const auto d = static_cast<float>(x.cols());
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    const auto row = x.row(i).array();
    const float mean = row.sum() / d;
    const float var = (row - mean).square().sum() / d;
    const float inv = 1.0f / std::sqrt(var + eps);
    y.row(i).array() = (row - mean) * inv * w.array() + b.array();
  }
}

/// Exact GELU, x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), in place (PyTorch's default nn.GELU()).
template <class M>
void gelu_in_place(M&& x) {
  auto a = x.array();
  a = 0.5f * a * (1.0f + (a * 0.70710678118654752f).erf());
}

/// u = silu(gate) * up, written into up (SwiGLU).
template <class G, class U>
void swiglu_in_place(const G& gate, U&& up) {
  up.array() = up.array() * gate.array() / (1.0f + (-gate.array()).exp());
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

/// Rotates one head vector in place ("rotate half" convention): for i < h = dim/2,
/// (x_i, x_{i+h}) -> (x_i cos - x_{i+h} sin, x_{i+h} cos + x_i sin).
inline void rope_apply(float* x, const float* c, const float* s, std::size_t dim) noexcept {
  const std::size_t h = dim / 2;
  for (std::size_t i = 0; i < h; ++i) {
    const float a = x[i], b = x[i + h];
    x[i] = a * c[i] - b * s[i];
    x[i + h] = b * c[i] + a * s[i];
  }
}

/// softmax(scale * s) of each row in place; entries equal to -inf (masked keys) get probability exactly 0. Rows
/// must be contiguous (a row-major block). Written with xsimd and unaligned loads: Eigen's array exp peels scalar
/// iterations until its loads are aligned, and attention rows (81 scores at odd offsets) spent most of their exp
/// time there.
template <class M>
void softmax_rows(M&& s, float scale = 1.0f) {
  using batch = xsimd::batch<float>;
  constexpr std::size_t W = batch::size;
  const auto n = static_cast<std::size_t>(s.cols());
  const std::size_t body = n - n % W;
  const float neg_inf = -std::numeric_limits<float>::infinity();
  for (Eigen::Index i = 0; i < s.rows(); ++i) {
    float* p = s.row(i).data();
    batch top(neg_inf);
    for (std::size_t j = 0; j < body; j += W) top = xsimd::max(top, batch::load_unaligned(p + j));
    alignas(64) float lanes[W];
    top.store_aligned(lanes);
    float m = *std::max_element(lanes, lanes + W);
    for (std::size_t j = body; j < n; ++j) m = std::max(m, p[j]);
    const batch shift(m), k(scale), zero(0.0f), minus_inf(neg_inf);
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
    float sum = xsimd::hadd(acc);
    if (body < n) { // the last partial vector, padded with -inf (exp gives 0 there)
      alignas(64) float tail[W];
      std::fill(tail, tail + W, neg_inf);
      std::copy(p + body, p + n, tail);
      const batch e = exp_or_zero(batch::load_aligned(tail));
      e.store_aligned(tail);
      for (std::size_t j = body; j < n; ++j) sum += p[j] = tail[j - body];
    }
    const batch inv(1.0f / sum);
    for (std::size_t j = 0; j < body; j += W) (batch::load_unaligned(p + j) * inv).store_unaligned(p + j);
    for (std::size_t j = body; j < n; ++j) p[j] *= 1.0f / sum;
  }
}

} // namespace apgen::nn
