#pragma once
/// \file
/// Rotary position embeddings, the one definition the inference forward (nn/transformer.hpp) and the training pass
/// (nn/training_forward.hpp, nn/backward.hpp) share: the angle table and the rotation of a position's head vectors.
///
/// "Rotate half" convention: for head width dim and i < h = dim / 2, the pair (x_i, x_{i+h}) at position p turns by
/// theta(p, i) = p * base^(-2i / dim). The backward turns the gradient by -theta (the rotation's transpose), the same
/// code with the sine negated.

#include <apgen/backends/simd/fma.hpp>

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <type_traits>
#include <vector>

namespace apgen::nn {

/// cos and sin of the rotary angles in Scalar for positions [0, max_positions) and frequency index [0, head_dim / 2),
/// computed in double and rounded once. Grown on demand, never shrunk: the angles do not change between rows,
/// layers or steps.
template <class Scalar>
class basic_rope_table {
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
        const double theta =
            static_cast<double>(p) * std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(head_dim));
        m_cos[p * half + i] = static_cast<Scalar>(std::cos(theta));
        m_sin[p * half + i] = static_cast<Scalar>(std::sin(theta));
      }
  }
  [[nodiscard]] const Scalar* cos_row(std::size_t p) const noexcept { return m_cos.data() + p * (m_dim / 2); }
  [[nodiscard]] const Scalar* sin_row(std::size_t p) const noexcept { return m_sin.data() + p * (m_dim / 2); }

private:
  std::size_t m_positions = 0, m_dim = 0;
  double m_base = 0;
  std::vector<Scalar> m_cos, m_sin;
};

using rope_table = basic_rope_table<float>;

/// Rotates `slices` consecutive head vectors of width dim, all at one position, in place, by the angles whose cos and
/// sin are c and s (a table row); by the opposite angles with `Inverse` (the backward). Floats run in vectors; any
/// other scalar (double, for gradient checks) in the same arithmetic one element at a time.
template <bool Inverse = false, class Scalar>
void rope_apply(Scalar* x, const Scalar* c, const Scalar* s, std::size_t dim, std::size_t slices = 1) noexcept {
  const std::size_t h = dim / 2;
  std::size_t i = 0;
  if constexpr (std::is_same_v<Scalar, float>) {
    using batch = xsimd::batch<float>;
    constexpr std::size_t W = batch::size;
    // One position's cos/sin serve every slice (all heads of q and k), so they are loaded once per vector.
    for (; i + W <= h; i += W) {
      const batch cv = batch::load_unaligned(c + i);
      const batch sv = Inverse ? -batch::load_unaligned(s + i) : batch::load_unaligned(s + i);
      for (std::size_t k = 0; k < slices; ++k) {
        float* p = x + k * dim;
        const batch a = batch::load_unaligned(p + i), b = batch::load_unaligned(p + i + h);
        simd::fmadd(a, cv, -(b * sv)).store_unaligned(p + i);
        simd::fmadd(b, cv, a * sv).store_unaligned(p + i + h);
      }
    }
  }
  for (; i < h; ++i) {
    const Scalar ci = c[i], si = Inverse ? -s[i] : s[i];
    for (std::size_t k = 0; k < slices; ++k) {
      Scalar* p = x + k * dim;
      const Scalar a = p[i], b = p[i + h];
      p[i] = a * ci - b * si;
      p[i + h] = b * ci + a * si;
    }
  }
}

/// Rotates the first `slices` head vectors of n rows `stride` apart, row p at position p (a whole sequence of q and
/// k heads, as the training pass lays them out), in place.
template <bool Inverse = false, class Scalar>
void rope_rows(Scalar* x, std::ptrdiff_t stride, std::size_t n, std::size_t slices, std::size_t dim,
               const basic_rope_table<Scalar>& table) noexcept {
  for (std::size_t p = 0; p < n; ++p)
    rope_apply<Inverse>(x + static_cast<std::ptrdiff_t>(p) * stride, table.cos_row(p), table.sin_row(p), dim, slices);
}

} // namespace apgen::nn
