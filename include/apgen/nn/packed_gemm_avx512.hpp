#pragma once
/// \file
/// C = A W^T (+ bias) with W packed once, for AVX-512 builds: our own register-blocked kernel in place of Eigen's
/// GEBP (nn/packed_gemm.hpp picks it when the build targets AVX-512).
///
/// Why not Eigen's kernel here: its GEBP can only accumulate into C, so a layer's bias had to be written into C
/// first, and every output line made an extra trip through the cache hierarchy (3-4% of a forward at d = 512);
/// its activation panels hold 4 tokens, so a 48-row weight panel was re-read from L2 for every 4 tokens. Here the
/// kernel's epilogue adds the bias and stores (or adds to C, or streams to memory), and a weight panel is reused
/// by 14 tokens at a time. Measured against Eigen's kernel with the bias pass, weights cold as in a forward: 1.01-
/// 1.11x on the reference shapes (1.11x on the 32,000-token head).
///
/// Layout. W (n x k, row-major) is cut into k-slices of at most depth_block and, within a slice, panels of
/// `panel` = 32 weights rows stored k-major ([k][32], zero rows past n): one k step of a panel is two vectors. A
/// call packs each k-slice of A (m x k) into tiles of `tile` = 14 rows, k-major with a stride of 16 ([k][16],
/// transposed 16 x 16 in registers). The kernel holds a 14 x 32 block of C in 28 registers and, per k step, loads
/// two weight vectors and broadcasts 14 activations. Loop order: k-slice, weight panel, activation tile; the
/// panel (64 KB at k = 512) and the slice's tiles stay in L2. Each C element is one sum in k order plus the bias,
/// whatever the other rows: a row's result does not depend on its batch.

#if defined(__AVX512F__)

#include <apgen/backends/simd/transpose.hpp>
#include <apgen/nn/scratch_buffer.hpp>

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace apgen::nn {

namespace avx512_gemm {

using index = std::ptrdiff_t;
inline constexpr index panel = 32; ///< weights rows per packed panel (two vectors of C columns)
inline constexpr index tile = 14;  ///< activation rows per kernel call (28 accumulators + 2 weights + 1 broadcast)
inline constexpr index tile_stride = 16;  ///< floats per k step of a packed tile (one transposed 16-row block)
inline constexpr index depth_block = 512; ///< longest k-slice: a panel of it is 64 KB, an L2-resident block

/// What the kernel's epilogue does with C.
enum class store_mode { set, add, stream };

template <int R, store_mode Mode, bool Bias>
inline void kernel(const float* __restrict a, const float* __restrict w, index kc, float* c, index ldc,
                   const float* bias, __mmask16 m0, __mmask16 m1) {
  __m512 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  if constexpr (Mode == store_mode::add) // C is read at the end: start its lines on their way now
    for (int r = 0; r < R; ++r) _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
  for (index k = 0; k < kc; ++k) {
    const __m512 w0 = _mm512_load_ps(w + k * panel), w1 = _mm512_load_ps(w + k * panel + 16);
    for (int r = 0; r < R; ++r) {
      const __m512 x = _mm512_set1_ps(a[k * tile_stride + r]);
      acc[r][0] = _mm512_fmadd_ps(x, w0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(x, w1, acc[r][1]);
    }
  }
  __m512 b0 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps();
  if constexpr (Bias) {
    b0 = _mm512_maskz_loadu_ps(m0, bias);
    b1 = _mm512_maskz_loadu_ps(m1, bias + 16);
  }
  for (int r = 0; r < R; ++r) {
    float* p = c + r * ldc;
    __m512 x0 = acc[r][0], x1 = acc[r][1];
    if constexpr (Bias) {
      x0 = _mm512_add_ps(x0, b0);
      x1 = _mm512_add_ps(x1, b1);
    }
    if constexpr (Mode == store_mode::add) {
      x0 = _mm512_add_ps(x0, _mm512_maskz_loadu_ps(m0, p));
      x1 = _mm512_add_ps(x1, _mm512_maskz_loadu_ps(m1, p + 16));
    }
    if (Mode == store_mode::stream && m0 == 0xffff && m1 == 0xffff && reinterpret_cast<std::uintptr_t>(p) % 64 == 0) {
      _mm512_stream_ps(p, x0);
      _mm512_stream_ps(p + 16, x1);
    } else {
      _mm512_mask_storeu_ps(p, m0, x0);
      _mm512_mask_storeu_ps(p + 16, m1, x1);
    }
  }
}

using kernel_fn = void (*)(const float*, const float*, index, float*, index, const float*, __mmask16, __mmask16);

/// kernels<Mode, Bias>[R - 1]: the kernel for a tile of R rows.
template <store_mode Mode, bool Bias, int... I>
constexpr std::array<kernel_fn, sizeof...(I)> kernel_table(std::integer_sequence<int, I...>) {
  return {&kernel<I + 1, Mode, Bias>...};
}
template <store_mode Mode, bool Bias>
inline constexpr auto kernels = kernel_table<Mode, Bias>(std::make_integer_sequence<int, static_cast<int>(tile)>{});

inline __mmask16 lane_mask(index count) {
  return count >= 16 ? __mmask16(0xffff) : count <= 0 ? __mmask16(0) : __mmask16((1u << count) - 1u);
}

} // namespace avx512_gemm

/// A weight matrix W (n x k, row-major, as the model stores it) packed for C = A W^T (+ bias) on AVX-512.
class avx512_packed_weight {
  using index = avx512_gemm::index;
  using store_mode = avx512_gemm::store_mode;
  static constexpr index panel = avx512_gemm::panel, tile = avx512_gemm::tile, stride = avx512_gemm::tile_stride,
                         depth_block = avx512_gemm::depth_block, row_block = 256;

public:
  /// Packs w (n x k, row stride ldw).
  void pack(const float* w, index ldw, index n, index k) {
    m_n = n;
    m_k = k;
    m_panels = (n + panel - 1) / panel;
    m_data.assign(static_cast<std::size_t>(m_panels * panel * k), 0.0f);
    for (index k0 = 0; k0 < k; k0 += depth_block) {
      const index kc = std::min(depth_block, k - k0);
      float* slice = m_data.data() + m_panels * panel * k0;
      for (index p = 0; p < m_panels; ++p)
        for (index j = 0; j < panel && p * panel + j < n; ++j) {
          const float* row = w + (p * panel + j) * ldw + k0;
          float* dst = slice + p * kc * panel + j;
          for (index kk = 0; kk < kc; ++kk) dst[kk * panel] = row[kk];
        }
    }
  }

  [[nodiscard]] index rows() const noexcept { return m_n; }
  [[nodiscard]] index cols() const noexcept { return m_k; }
  [[nodiscard]] bool empty() const noexcept { return m_data.empty(); }

  /// C (m x n, row stride ldc) += A (m x k, row stride lda) W^T.
  void accumulate(const float* a, index lda, float* c, index ldc, index m, scratch_buffer& scratch) const {
    run(a, lda, nullptr, c, ldc, m, store_mode::add, scratch);
  }
  /// C = A W^T + bias, or C += A W^T + bias with `accumulate` (bias: n floats, or null for none).
  void apply(const float* a, index lda, const float* bias, float* c, index ldc, index m, bool accumulate,
             scratch_buffer& scratch) const {
    run(a, lda, bias, c, ldc, m, accumulate ? store_mode::add : store_mode::set, scratch);
  }
  /// C = A W^T + bias for an output that goes straight to its reader: stored with streaming stores.
  void apply_streamed(const float* a, index lda, const float* bias, float* c, index ldc, index m,
                      scratch_buffer& scratch) const {
    run(a, lda, bias, c, ldc, m, store_mode::stream, scratch);
  }

  /// Weights rows per packed block (a panel): the granularity the tests cut their shapes around.
  static constexpr index max_block_rows = panel;

private:
  void run(const float* a, index lda, const float* bias, float* c, index ldc, index m, store_mode mode,
           scratch_buffer& scratch) const {
    if (m == 0 || m_n == 0) return;
    if (m_k == 0) { // no product: C becomes (or gains) the bias
      for (index r = 0; r < m; ++r)
        for (index j = 0; j < m_n; ++j) {
          const float b = bias ? bias[j] : 0.0f;
          c[r * ldc + j] = mode == store_mode::add ? c[r * ldc + j] + b : b;
        }
      return;
    }
    // At most row_block activation rows at a time: their packed k-slice (512 KB) stays in L2 while every weight
    // panel passes over it.
    for (index j0 = 0; j0 < m; j0 += row_block)
      run_rows(a + j0 * lda, lda, bias, c + j0 * ldc, ldc, std::min(row_block, m - j0), mode, scratch);
    if (mode == store_mode::stream) _mm_sfence(); // streaming stores are weakly ordered
  }

  void run_rows(const float* a, index lda, const float* bias, float* c, index ldc, index m, store_mode mode,
                scratch_buffer& scratch) const {
    const index tiles = (m + tile - 1) / tile;
    float* packed = scratch.get(static_cast<std::size_t>(tiles * stride * std::min(depth_block, m_k)));
    for (index k0 = 0; k0 < m_k; k0 += depth_block) {
      const index kc = std::min(depth_block, m_k - k0);
      pack_tiles(a + k0, lda, m, kc, packed);
      // The first slice stores (with the bias), later ones add. Streaming needs the whole sum in registers, so a
      // product of several slices stores normally.
      const bool first = k0 == 0, single = first && kc == m_k;
      const bool with_bias = first && bias;
      store_mode slice_mode = first ? mode : store_mode::add;
      if (mode == store_mode::stream && !single) slice_mode = first ? store_mode::set : store_mode::add;
      const float* slice = m_data.data() + m_panels * panel * k0;
      for (index p = 0; p < m_panels; ++p) {
        const index cols = std::min(panel, m_n - p * panel);
        const __mmask16 m0 = avx512_gemm::lane_mask(cols), m1 = avx512_gemm::lane_mask(cols - 16);
        const float* wp = slice + p * kc * panel;
        for (index t = 0; t < tiles; ++t) {
          const index r0 = t * tile, rows = std::min(tile, m - r0);
          float* ct = c + r0 * ldc + p * panel;
          const float* at = packed + t * stride * kc;
          const float* bp = with_bias ? bias + p * panel : nullptr;
          dispatch(slice_mode, with_bias)[static_cast<std::size_t>(rows - 1)](at, wp, kc, ct, ldc, bp, m0, m1);
        }
      }
    }
  }

  static const std::array<avx512_gemm::kernel_fn, static_cast<std::size_t>(tile)>& dispatch(store_mode mode,
                                                                                            bool bias) {
    using avx512_gemm::kernels;
    switch (mode) {
    case store_mode::set:
      return bias ? kernels<store_mode::set, true> : kernels<store_mode::set, false>;
    case store_mode::add:
      return bias ? kernels<store_mode::add, true> : kernels<store_mode::add, false>;
    default:
      return bias ? kernels<store_mode::stream, true> : kernels<store_mode::stream, false>;
    }
  }

  /// Rows [0, m) x columns [0, kc) of A into tiles of `tile` rows, each [kc][16] (rows past the tile's end zero).
  static void pack_tiles(const float* a, index lda, index m, index kc, float* packed) {
    for (index r0 = 0, t = 0; r0 < m; r0 += tile, ++t) {
      const index rows = std::min(tile, m - r0);
      float* dst = packed + t * stride * kc;
      index kk = 0;
      for (; kk + 16 <= kc; kk += 16)
        simd::transpose16(a + r0 * lda + kk, static_cast<std::size_t>(lda), static_cast<std::size_t>(rows),
                          dst + kk * stride, static_cast<std::size_t>(stride));
      for (; kk < kc; ++kk)
        for (index r = 0; r < stride; ++r) dst[kk * stride + r] = r < rows ? a[(r0 + r) * lda + kk] : 0.0f;
    }
  }

  index m_n = 0, m_k = 0, m_panels = 0;
  std::vector<float, xsimd::aligned_allocator<float>> m_data; ///< [k-slice][panel][k][32]
};

} // namespace apgen::nn

#endif
