#pragma once
/// \file
/// The inference forward's elementwise row kernels: exact (erf) GELU, SiLU gating (SwiGLU) and the dot product of
/// the control heads. Each works on a block of rows so threads can split a batch by rows, and computes every float
/// by the same vector code wherever its row starts. LayerNorm, RoPE and the softmaxes, which the training pass
/// shares, live beside this file (layer_norm.hpp, rope.hpp, softmax.hpp).

#include <apgen/interop/eigen.hpp>

#include <apgen/backends/simd/fma.hpp>
#include <apgen/backends/simd/partial.hpp>
#include <unsupported/Eigen/SpecialFunctions>

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace apgen::nn {

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
    f(Eigen::Map<Eigen::Array<float, chunk, 1>, Eigen::AlignedMax>(block),
      Eigen::Map<const Eigen::Array<float, chunk, 1>, Eigen::AlignedMax>(other));
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
  for (std::size_t j = 0; j < body; j += W)
    acc = simd::fmadd(batch::load_unaligned(a + j), batch::load_unaligned(b + j), acc);
  if (body < n)
    acc = simd::fmadd(detail::load_partial(a + body, n - body, 0.0f), detail::load_partial(b + body, n - body, 0.0f),
                      acc);
  return xsimd::hadd(acc);
}

/// Exact GELU, x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), in place (PyTorch's default nn.GELU()), row by row in
/// whole vectors (detail::for_row_in_whole_vectors).
template <class M>
void gelu_in_place(M&& x) {
  const auto n = static_cast<std::size_t>(x.cols());
  for (Eigen::Index i = 0; i < x.rows(); ++i)
    detail::for_row_in_whole_vectors(x.row(i).data(), nullptr, n, [](auto&& a, auto&&) {
      a = 0.5f * a * (1.0f + (a * 0.70710678118654752f).erf());
    });
}

/// u = silu(gate) * up, written into up (SwiGLU), row by row in whole vectors.
template <class G, class U>
void swiglu_in_place(const G& gate, U&& up) {
  const auto n = static_cast<std::size_t>(up.cols());
  for (Eigen::Index i = 0; i < up.rows(); ++i)
    detail::for_row_in_whole_vectors(up.row(i).data(), gate.row(i).data(), n,
                                     [](auto&& u, auto&& g) { u = u * g / (1.0f + (-g).exp()); });
}

} // namespace apgen::nn
