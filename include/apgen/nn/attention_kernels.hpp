#pragma once
/// \file
/// The two products of one attention head, S = Q K^T and O = P V, as register-blocked vector kernels for head
/// widths that are a multiple of the vector width (16 floats with AVX-512, 8 with AVX2).
///
/// Why not Eigen's GEMM: a head's products are small (81-128 queries x 32 dims at the reference shapes), and a
/// general GEMM packs both operands on every call and then runs its kernel on a handful of panels; at the
/// Sudoku-sized shape attention took about a fifth of the forward for a twentieth of its FLOPs. Here:
///   - scores: K is transposed once into a scratch (dh x keys, keys along the vector lanes), then a block of R
///     queries is multiplied against two vectors of keys at a time, broadcasting query elements;
///   - values: a block of R probability rows is multiplied against the value rows, one broadcast probability
///     against the dh / W vectors of a value row.
/// Each output element is a sum in a fixed order that depends only on the shapes, so the same inputs give the same
/// bits whatever the batch around them (the transformer's determinism guarantee).

#include <apgen/backends/simd/fma.hpp>
#include <apgen/backends/simd/transpose.hpp>
#include <apgen/nn/scratch_buffer.hpp>

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cstddef>
#include <utility>

namespace apgen::nn::attention_kernels {

using batch = xsimd::batch<float>;
inline constexpr std::size_t lanes = batch::size;

/// Whether the kernels take a head of width dh (otherwise the caller uses a general product).
[[nodiscard]] constexpr bool supports(std::size_t dh) noexcept {
  return dh % lanes == 0 && dh / lanes >= 1 && dh / lanes <= 4;
}

/// Keys rounded up to whole vectors: the row stride of the transposed keys and of the score block.
[[nodiscard]] constexpr std::size_t padded_keys(std::size_t nk) noexcept {
  return (nk + lanes - 1) / lanes * lanes;
}

/// Per-thread scratch for the transposed keys.
using scratch = scratch_buffer;

namespace detail {

// out (R x NV vectors, row stride ldo) = X Y over `depth`: X element x[r * ldx + t] broadcast against the NV vectors
// of row t of Y (y + t * ldy). Output row r is scaled by row_scale[r] when given. Both attention products are this
// tile: scores with X = Q and Y = the transposed keys, values with X = P and Y = V.
template <std::size_t R, std::size_t NV>
inline void broadcast_tile(const float* x, std::size_t ldx, const float* y, std::size_t ldy, std::size_t depth,
                           float* out, std::size_t ldo, const float* row_scale = nullptr) {
  batch acc[R][NV];
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t c = 0; c < NV; ++c) acc[r][c] = batch(0.0f);
  for (std::size_t t = 0; t < depth; ++t) {
    batch yv[NV];
    for (std::size_t c = 0; c < NV; ++c) yv[c] = batch::load_unaligned(y + t * ldy + c * lanes);
    for (std::size_t r = 0; r < R; ++r) {
      const batch xv(x[r * ldx + t]);
      for (std::size_t c = 0; c < NV; ++c) acc[r][c] = simd::fmadd(xv, yv[c], acc[r][c]);
    }
  }
  if (row_scale)
    for (std::size_t r = 0; r < R; ++r)
      for (std::size_t c = 0; c < NV; ++c) acc[r][c] *= batch(row_scale[r]);
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t c = 0; c < NV; ++c) acc[r][c].store_unaligned(out + r * ldo + c * lanes);
}

template <std::size_t R>
inline void score_rows(const float* q, std::size_t ldq, const float* kt, std::size_t ldkt, std::size_t nkp,
                       std::size_t dh, float* s, std::size_t lds) {
  std::size_t j = 0;
  for (; j + 2 * lanes <= nkp; j += 2 * lanes)
    broadcast_tile<R, 2>(q, ldq, kt + j, ldkt, dh, s + j, lds);            // two vectors of keys
  if (j < nkp) broadcast_tile<R, 1>(q, ldq, kt + j, ldkt, dh, s + j, lds); // an odd last one
}

// kt (dh x nkp, row stride nkp) = K^T for K (nk x dh, row stride ldk), zeros in columns nk .. nkp.
inline void transpose_keys(const float* k, std::size_t ldk, std::size_t nk, std::size_t dh, float* kt,
                           std::size_t nkp) {
#if defined(__AVX512F__)
  if constexpr (lanes == 16) {
    for (std::size_t j = 0; j < nkp; j += 16) {
      const std::size_t keys = std::min<std::size_t>(16, nk - std::min(nk, j));
      for (std::size_t t = 0; t < dh; t += 16) simd::transpose16(k + j * ldk + t, ldk, keys, kt + t * nkp + j, nkp);
    }
    return;
  }
#endif
  for (std::size_t t = 0; t < dh; ++t) {
    float* row = kt + t * nkp;
    for (std::size_t j = 0; j < nk; ++j) row[j] = k[j * ldk + t];
    std::fill(row + nk, row + nkp, 0.0f);
  }
}

// Rows per tile: as many accumulators as leave registers for the loaded vectors (32 with AVX-512, 16 otherwise).
inline constexpr std::size_t registers = lanes == 16 ? 32 : 16;
inline constexpr std::size_t score_rows_per_tile = (registers - 4) / 2;
template <std::size_t DV>
inline constexpr std::size_t value_rows_per_tile = std::min<std::size_t>(16, (registers - DV - 2) / DV);

template <std::size_t R, class F, std::size_t... I>
inline void dispatch_rows(std::size_t rows, F&& f, std::index_sequence<I...>) {
  ((rows == I + 1 ? (f.template operator()<I + 1>(), 0) : 0), ...);
}

} // namespace detail

/// S (nq x nk, row stride lds >= padded_keys(nk)) = Q K^T for Q (nq x dh, row stride ldq) and K (nk x dh, row
/// stride ldk). Columns nk .. padded_keys(nk) of S get zeros' products (scratch the caller ignores).
inline void scores(const float* q, std::size_t ldq, const float* k, std::size_t ldk, std::size_t nq, std::size_t nk,
                   std::size_t dh, float* s, std::size_t lds, scratch& work) {
  const std::size_t nkp = padded_keys(nk);
  float* kt = work.get(dh * nkp);
  detail::transpose_keys(k, ldk, nk, dh, kt, nkp);
  constexpr std::size_t R = detail::score_rows_per_tile;
  std::size_t i = 0;
  for (; i + R <= nq; i += R) detail::score_rows<R>(q + i * ldq, ldq, kt, nkp, nkp, dh, s + i * lds, lds);
  if (i < nq)
    detail::dispatch_rows<R>(
        nq - i,
        [&]<std::size_t Rows>() { detail::score_rows<Rows>(q + i * ldq, ldq, kt, nkp, nkp, dh, s + i * lds, lds); },
        std::make_index_sequence<R - 1>{});
}

/// O (nq x dh, row stride ldo) = P V for P (nq x nk, row stride ldp) and V (nk x dh, row stride ldv); with
/// row_scale, output row i is multiplied by row_scale[i] (a softmax's 1 / sum, see softmax_rows).
inline void values(const float* p, std::size_t ldp, const float* v, std::size_t ldv, std::size_t nq, std::size_t nk,
                   std::size_t dh, float* o, std::size_t ldo, const float* row_scale = nullptr) {
  auto run = [&]<std::size_t DV>() {
    constexpr std::size_t R = detail::value_rows_per_tile<DV>;
    std::size_t i = 0;
    const auto scale_at = [&](std::size_t i) { return row_scale ? row_scale + i : nullptr; };
    for (; i + R <= nq; i += R)
      detail::broadcast_tile<R, DV>(p + i * ldp, ldp, v, ldv, nk, o + i * ldo, ldo, scale_at(i));
    if (i < nq)
      detail::dispatch_rows<R>(
          nq - i,
          [&]<std::size_t Rows>() {
            detail::broadcast_tile<Rows, DV>(p + i * ldp, ldp, v, ldv, nk, o + i * ldo, ldo, scale_at(i));
          },
          std::make_index_sequence<R - 1>{});
  };
  switch (dh / lanes) {
  case 1:
    run.template operator()<1>();
    break;
  case 2:
    run.template operator()<2>();
    break;
  case 3:
    run.template operator()<3>();
    break;
  default:
    run.template operator()<4>();
    break;
  }
}

} // namespace apgen::nn::attention_kernels
