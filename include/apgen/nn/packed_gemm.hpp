#pragma once
/// \file
/// C += A W^T with the weight W packed once, ahead of time. `packed_weight` is the AVX-512 kernel of
/// nn/packed_gemm_avx512.hpp when the build targets AVX-512, and otherwise the class below, which packs W into the
/// panel layout of Eigen's GEBP kernel (both have the same interface and the same tests).
///
/// Why: a product through Eigen's GEMM (or any BLAS) repacks both operands on every call. The activations change
/// every step, the weights never do, and in an inference forward the weights are the bigger operand: at d = 512
/// with a 32,000-token head a forward repacks ~40M weight floats (~300 MB of memory traffic) for ~22 GFLOP. Packing
/// W once at model load leaves only the activations to pack per call (each k-slice once, instead of once per
/// weight block as Eigen's loop order does when W is tall).
///
/// Layout. Row-major C (m x n) += A (m x k) W^T is, read column-major, C^T (n x m) += W (n x k) A^T (k x m): W is
/// GEBP's left operand. W is cut into kc x mc blocks (k-slices of kc, row blocks of mc weights rows), each packed
/// with Eigen's gemm_pack_lhs exactly as its GEMM would; a call packs each kc x nc slice of A^T with gemm_pack_rhs
/// and runs the GEBP kernel against every packed W block. Results equal Eigen's GEMM up to summation order.
/// This uses Eigen 3.4's internal kernel interface; the static_assert in gemm.hpp guards the version.

#include <apgen/nn/gemm.hpp>
#include <apgen/nn/packed_gemm_avx512.hpp>
#include <apgen/nn/scratch_buffer.hpp>

#include <Eigen/Core>
#include <xsimd/xsimd.hpp>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace apgen::nn {

/// Scratch for the activations' packed slices: one per thread, grown on demand and then reused.
using packed_gemm_scratch = scratch_buffer;

/// A weight matrix W (n x k, row-major, as the model stores it) packed for Eigen's GEBP kernel, for C += A W^T.
class eigen_packed_weight {
  using index = Eigen::Index;
  using traits = Eigen::internal::gebp_traits<float, float>;
  using lhs_mapper = Eigen::internal::const_blas_data_mapper<float, index, Eigen::RowMajor>;
  using rhs_mapper = Eigen::internal::const_blas_data_mapper<float, index, Eigen::ColMajor>;
  using res_mapper = Eigen::internal::blas_data_mapper<float, index, Eigen::ColMajor, Eigen::Unaligned, 1>;

public:
  eigen_packed_weight() = default;

  /// Packs w (n x k, row stride ldw). Block sizes come from Eigen's heuristic for a product with many columns,
  /// so a block of W stays in L2 while the kernel streams activation panels past it.
  void pack(const float* w, index ldw, index n, index k) {
    m_n = n;
    m_k = k;
    m_offsets.clear();
    m_data.clear();
    if (n == 0 || k == 0) return; // nothing to pack (Eigen's blocking heuristic divides by the depth)
    index kc = k, mc = n, nc = 4096;
    Eigen::internal::computeProductBlockingSizes<float, float, 1>(kc, mc, nc);
    m_kc = std::max<index>(1, kc);
    // Row blocks of at most max_block_rows weights rows: the output block a bias goes into (block_rows x the
    // activation rows of one call) must still be in cache when the kernel accumulates onto it. Eigen's heuristic
    // makes a 32,000-row head one block, whose 32 MB of logits went to memory and back between the two.
    m_mc = std::clamp<index>(mc, 1, max_block_rows);
    m_nc = std::max<index>(traits::nr, nc / traits::nr * traits::nr);
    std::size_t total = 0;
    for (index k2 = 0; k2 < k; k2 += m_kc)
      for (index i2 = 0; i2 < n; i2 += m_mc) {
        m_offsets.push_back(total);
        // Each block starts on a 64-byte boundary: the packing routine stores whole vectors with aligned stores.
        total += (static_cast<std::size_t>(std::min(m_kc, k - k2) * std::min(m_mc, n - i2)) + 15) / 16 * 16;
      }
    m_data.assign(total, 0.0f);
    Eigen::internal::gemm_pack_lhs<float, index, lhs_mapper, traits::mr, traits::LhsProgress, traits::LhsPacket4Packing,
                                   Eigen::RowMajor>
        pack_lhs;
    const lhs_mapper lhs(w, ldw);
    std::size_t b = 0;
    for (index k2 = 0; k2 < k; k2 += m_kc)
      for (index i2 = 0; i2 < n; i2 += m_mc, ++b)
        pack_lhs(m_data.data() + m_offsets[b], lhs.getSubMapper(i2, k2), std::min(m_kc, k - k2),
                 std::min(m_mc, n - i2));
  }

  [[nodiscard]] index rows() const noexcept { return m_n; }
  [[nodiscard]] index cols() const noexcept { return m_k; }
  [[nodiscard]] bool empty() const noexcept { return m_data.empty(); }

  /// C (m x n, row stride ldc) += A (m x k, row stride lda) W^T.
  void accumulate(const float* a, index lda, float* c, index ldc, index m, packed_gemm_scratch& scratch) const {
    run(a, lda, c, ldc, m, nullptr, true, scratch);
  }

  /// C = A W^T + bias, or C += A W^T + bias with `accumulate` (bias: n floats, added to every row). Each block of
  /// C gets its bias just before the kernel's first pass over it, so the block is read from memory once.
  void apply(const float* a, index lda, const float* bias, float* c, index ldc, index m, bool accumulate,
             packed_gemm_scratch& scratch) const {
    run(a, lda, c, ldc, m, bias, accumulate, scratch);
  }

  /// C = A W^T + bias for an output that goes straight to its reader (a vocabulary head's logits): each block is
  /// computed in a cache-resident staging block and then written out once with streaming stores. Writing the bias
  /// into a 32 MB output and accumulating onto it made every line go to memory and back; here it goes once.
  void apply_streamed(const float* a, index lda, const float* bias, float* c, index ldc, index m,
                      packed_gemm_scratch& scratch) const {
    if (m == 0 || m_n == 0) return;
    if (m_k == 0) {
      init_block(bias, c, ldc, m, 0, m_n, false);
      return;
    }
    Eigen::internal::gemm_pack_rhs<float, index, rhs_mapper, traits::nr, Eigen::ColMajor> pack_rhs;
    Eigen::internal::gebp_kernel<float, float, index, res_mapper, traits::mr, traits::nr, false, false> gebp;
    const rhs_mapper rhs(a, lda);
    const index nc = std::min(m_nc, round_up_to_group(m));
    // Every k-slice of a chunk of activation rows, packed once, then the staging block (nc x m_mc, row-major). A
    // chunk's last m % nr rows are packed as one whole group, padded with zero rows (see tail_rows); the staging
    // block has room for the padding, and only real rows are written out.
    const index stage_offset = (m_k * nc + 15) / 16 * 16;
    const tail_rows tail(a, lda, nullptr, 0, m, m_k, 0, false, scratch,
                         static_cast<std::size_t>(stage_offset + nc * m_mc));
    float* packed = scratch.get(0);
    float* stage = packed + stage_offset;
    const rhs_mapper tail_rhs(tail.a, m_k);
    const index row_blocks = (m_n + m_mc - 1) / m_mc;
    for (index j2 = 0; j2 < m; j2 += nc) {
      const index ncols = std::min(nc, m - j2), whole = ncols - ncols % traits::nr, padded = round_up_to_group(ncols);
      for (index k2 = 0; k2 < m_k; k2 += m_kc) {
        const index kc = std::min(m_kc, m_k - k2);
        if (whole) pack_rhs(packed + k2 * padded, rhs.getSubMapper(k2, j2), kc, whole);
        if (whole < ncols) pack_rhs(packed + k2 * padded + kc * whole, tail_rhs.getSubMapper(k2, 0), kc, traits::nr);
      }
      for (index i2 = 0, ib = 0; i2 < m_n; i2 += m_mc, ++ib) {
        const index mc = std::min(m_mc, m_n - i2);
        init_block(bias ? bias + i2 : nullptr, stage, mc, padded, 0, mc, false);
        const res_mapper res(stage, mc, 1);
        for (index k2 = 0, kb = 0; k2 < m_k; k2 += m_kc, ++kb)
          gebp(res, m_data.data() + m_offsets[static_cast<std::size_t>(kb * row_blocks + ib)], packed + k2 * padded, mc,
               std::min(m_kc, m_k - k2), padded, 1.0f);
        for (index r = 0; r < ncols; ++r) stream_copy(stage + r * mc, c + (j2 + r) * ldc + i2, mc);
      }
    }
#if defined(__SSE2__)
    _mm_sfence(); // streaming stores are weakly ordered: make them visible before another thread reads C
#endif
  }

  /// Largest row block of W, in weights rows: a whole number of the kernel's 48-row panels (at AVX-512).
  static constexpr index max_block_rows = 8 * traits::mr;

private:
  void run(const float* a, index lda, float* c, index ldc, index m, const float* bias, bool accumulate,
           packed_gemm_scratch& scratch) const {
    if (m == 0 || m_n == 0) return;
    if (m_k == 0) { // no product: C is just the bias (or keeps its value)
      if (bias)
        init_block(bias, c, ldc, m, 0, m_n, accumulate);
      else if (!accumulate)
        init_block(nullptr, c, ldc, m, 0, m_n, false);
      return;
    }
    Eigen::internal::gemm_pack_rhs<float, index, rhs_mapper, traits::nr, Eigen::ColMajor> pack_rhs;
    Eigen::internal::gebp_kernel<float, float, index, res_mapper, traits::mr, traits::nr, false, false> gebp;
    const rhs_mapper rhs(a, lda);
    const res_mapper res(c, ldc, 1);
    const index nc = std::min(m_nc, round_up_to_group(m));
    // The last m % nr rows (if any) go through the kernel as one whole group, padded with zero rows: see tail_rows.
    const tail_rows tail(a, lda, c, ldc, m, m_k, m_n, accumulate, scratch, static_cast<std::size_t>(m_kc * nc));
    float* block_b = scratch.get(0); // tail_rows sized the scratch: packed slice first, then the tail's rows
    const rhs_mapper tail_rhs(tail.a, m_k);
    const res_mapper tail_res(tail.c, m_n, 1);
    const index row_blocks = (m_n + m_mc - 1) / m_mc;
    for (index k2 = 0, kb = 0; k2 < m_k; k2 += m_kc, ++kb) {
      const index kc = std::min(m_kc, m_k - k2);
      for (index j2 = 0; j2 < m; j2 += nc) {
        const index ncols = std::min(nc, m - j2), whole = ncols - ncols % traits::nr;
        if (whole) pack_rhs(block_b, rhs.getSubMapper(k2, j2), kc, whole);
        if (whole < ncols) pack_rhs(block_b + kc * whole, tail_rhs.getSubMapper(k2, 0), kc, traits::nr);
        for (index i2 = 0, ib = 0; i2 < m_n; i2 += m_mc, ++ib) {
          const index mc = std::min(m_mc, m_n - i2);
          const float* w = m_data.data() + m_offsets[static_cast<std::size_t>(kb * row_blocks + ib)];
          if (k2 == 0 && (bias || !accumulate)) {
            if (whole) init_block(bias, c + j2 * ldc, ldc, whole, i2, mc, accumulate);
            if (whole < ncols) init_block(bias, tail.c, m_n, traits::nr, i2, mc, accumulate);
          }
          if (whole) gebp(res.getSubMapper(i2, j2), w, block_b, mc, kc, whole, 1.0f);
          if (whole < ncols) gebp(tail_res.getSubMapper(i2, 0), w, block_b + kc * whole, mc, kc, traits::nr, 1.0f);
        }
      }
    }
    tail.publish();
  }

  /// m rounded up to whole column groups of the kernel.
  static index round_up_to_group(index m) {
    return (m + traits::nr - 1) / traits::nr * traits::nr;
  }

  /// Why a tail: GEBP computes a group of nr activation rows and a lone remainder row by different code (for the
  /// weights rows past its vector panels it even sums in another order), so a row's result depended on whether
  /// its position in the call fell in a whole group, that is on its batch and its thread's share of rows. The
  /// last m % nr rows are therefore copied, with zero rows after them, into a group of their own (and their
  /// output rows into a matching block), so every row goes through the whole-group path; publish() copies the
  /// real rows back. The scratch holds `front` floats for the caller first, then these blocks.
  struct tail_rows {
    float* a = nullptr; ///< nr x k, row-major (rows past `count` zero)
    float* c = nullptr; ///< nr x n, row-major
    index count = 0, n = 0, first = 0, ldc = 0;
    float* out = nullptr;
    tail_rows(const float* src, index lda, float* dst, index ldc_, index m, index k, index n_, bool accumulate,
              packed_gemm_scratch& scratch, std::size_t front)
        : count(m % traits::nr), n(n_), first(m - m % traits::nr), ldc(ldc_), out(dst) {
      const std::size_t a_floats = count ? static_cast<std::size_t>(traits::nr * k) : 0,
                        c_floats = count ? static_cast<std::size_t>(traits::nr * n) : 0;
      const std::size_t front16 = (front + 15) / 16 * 16, a16 = (a_floats + 15) / 16 * 16;
      float* base = scratch.get(front16 + a16 + c_floats);
      if (!count) return;
      a = base + front16;
      c = a + a16;
      std::fill(a, a + a_floats, 0.0f);
      std::fill(c, c + c_floats, 0.0f);
      for (index r = 0; r < count; ++r) {
        std::copy(src + (first + r) * lda, src + (first + r) * lda + k, a + r * k);
        if (accumulate) std::copy(dst + (first + r) * ldc, dst + (first + r) * ldc + n, c + r * n);
      }
    }
    void publish() const {
      for (index r = 0; r < count; ++r) std::copy(c + r * n, c + (r + 1) * n, out + (first + r) * ldc);
    }
  };

  /// dst[0, n) = src[0, n), bypassing the cache where the destination allows aligned streaming stores.
  static void stream_copy(const float* src, float* dst, index n) {
    index j = 0;
#if defined(__SSE2__) // this class serves the builds without AVX-512: 16-byte streaming stores
    while (j < n && (reinterpret_cast<std::uintptr_t>(dst + j) % 16) != 0) {
      dst[j] = src[j];
      ++j;
    }
    for (; j + 4 <= n; j += 4) _mm_stream_ps(dst + j, _mm_loadu_ps(src + j));
#endif
    for (; j < n; ++j) dst[j] = src[j];
  }

  /// Columns [c0, c0 + nc) of rows [0, rows) of C: set to the bias (or zero without one), or the bias added.
  /// Vector code rather than std::copy: rows are short (128 floats at d = 128), and a memmove call per row cost
  /// 4% of a forward.
  static void init_block(const float* bias, float* c, index ldc, index rows, index c0, index nc, bool accumulate) {
    using batch = xsimd::batch<float>;
    constexpr index W = static_cast<index>(batch::size);
    const index body = nc - nc % W;
    const float* b = bias ? bias + c0 : nullptr;
    for (index r = 0; r < rows; ++r) {
      float* row = c + r * ldc + c0;
      index j = 0;
      if (accumulate) {
        for (; j < body; j += W)
          (batch::load_unaligned(row + j) + batch::load_unaligned(b + j)).store_unaligned(row + j);
        for (; j < nc; ++j) row[j] += b[j];
      } else if (b) {
        for (; j < body; j += W) batch::load_unaligned(b + j).store_unaligned(row + j);
        for (; j < nc; ++j) row[j] = b[j];
      } else {
        for (; j < body; j += W) batch(0.0f).store_unaligned(row + j);
        for (; j < nc; ++j) row[j] = 0.0f;
      }
    }
  }

  index m_n = 0, m_k = 0, m_kc = 1, m_mc = 1, m_nc = traits::nr;
  std::vector<std::size_t> m_offsets; ///< block (k-slice kb, row block ib) at m_offsets[kb * row_blocks + ib]
  std::vector<float, Eigen::aligned_allocator<float>> m_data;
};

#if defined(__AVX512F__)
using packed_weight = avx512_packed_weight;
#else
using packed_weight = eigen_packed_weight;
#endif

} // namespace apgen::nn
