#pragma once
/// \file
/// Products through Eigen's GEMM kernel with packing buffers we own. Eigen's product expressions allocate their
/// packing buffers on the heap for layer-sized products (above its 128 KB stack limit), and glibc hands such blocks
/// back to the OS on free, so every product page-faulted. Owning the buffers makes steady-state products
/// allocation-free. `gemm_accumulate_abt` (C += A B^T in float, one blocking per shape) is the plain GEMM the
/// benches measure the model against (the inference forward packs its weights once instead: nn/packed_gemm.hpp);
/// `gemm_workspace` (any transposition, any scalar, one pair of buffers) serves the training pass. This uses
/// Eigen 3.4's internal GEMM entry point; the static_assert below guards it.

#include <apgen/interop/eigen.hpp>

#include <cstddef>
#include <memory>
#include <vector>

static_assert(EIGEN_WORLD_VERSION == 3 && EIGEN_MAJOR_VERSION == 4,
              "apgen::nn::gemm uses Eigen 3.4's internal GEMM interface; check it before moving to another Eigen");

namespace apgen::nn {

/// Packing buffers for the products of one thread, reused across calls.
class gemm_buffers {
  using blocking_t = Eigen::internal::gemm_blocking_space<Eigen::RowMajor, float, float, Eigen::Dynamic, Eigen::Dynamic,
                                                          Eigen::Dynamic, 1, false>;
  struct entry {
    Eigen::Index n, k, m;
    std::unique_ptr<blocking_t> blocking;
  };

public:
  gemm_buffers() = default;
  // Buffers are a cache: a copy starts empty and fills on first use.
  gemm_buffers(const gemm_buffers&) {}
  gemm_buffers& operator=(const gemm_buffers&) {
    m_entries.clear();
    return *this;
  }
  gemm_buffers(gemm_buffers&&) noexcept = default;
  gemm_buffers& operator=(gemm_buffers&&) noexcept = default;

  /// Buffers for an m x n x k product. A blocking sized for a larger m also serves smaller ones (the kernel
  /// clamps its block sizes to the problem), so each (n, k) allocates only when m grows.
  blocking_t& get(Eigen::Index m, Eigen::Index n, Eigen::Index k) {
    for (auto& e : m_entries)
      if (e.n == n && e.k == k) {
        if (e.m < m) {
          e.blocking = make(m, n, k);
          e.m = m;
        }
        return *e.blocking;
      }
    m_entries.push_back({n, k, m, make(m, n, k)});
    return *m_entries.back().blocking;
  }

private:
  static std::unique_ptr<blocking_t> make(Eigen::Index m, Eigen::Index n, Eigen::Index k) {
    auto b = std::make_unique<blocking_t>(m, n, k, 1, true);
    b->allocateAll();
    return b;
  }
  std::vector<entry> m_entries;
};

/// C (m x n, row stride ldc) += A (m x k, row stride lda) * B^T, B being n x k with row stride ldb.
inline void gemm_accumulate_abt(const float* a, Eigen::Index lda, const float* b, Eigen::Index ldb, float* c,
                                Eigen::Index ldc, Eigen::Index m, Eigen::Index n, Eigen::Index k,
                                gemm_buffers& buffers) {
  if (m == 0 || n == 0) return;
  // B^T is k x n column-major with stride ldb: exactly B's row-major memory.
  Eigen::internal::general_matrix_matrix_product<Eigen::Index, float, Eigen::RowMajor, false, float, Eigen::ColMajor,
                                                 false, Eigen::RowMajor, 1>::run(m, n, k, a, lda, b, ldb, c, 1, ldc,
                                                                                 1.0f, buffers.get(m, n, k), nullptr);
}

/// Packing buffers for products of any shape and transposition in `Scalar`, for one thread: the training pass
/// (nn/backward.hpp) runs products of many shapes (X W^T, dY W, dY^T X, per-head attention), so instead of one
/// blocking per shape this keeps one pair of buffers, grown to the largest blocks seen. The block sizes come from
/// Eigen's own heuristic for each call's shape, as in an Eigen product expression, so a product's rounding depends
/// only on its shape, never on what ran before (a resumed run computes the same bits as an uninterrupted one).
template <class Scalar>
class gemm_workspace {
public:
  gemm_workspace() = default;
  // Buffers are a cache: a copy starts empty and fills on first use.
  gemm_workspace(const gemm_workspace&) {}
  gemm_workspace& operator=(const gemm_workspace&) { return *this; }
  gemm_workspace(gemm_workspace&&) noexcept = default;
  gemm_workspace& operator=(gemm_workspace&&) noexcept = default;

  /// C (m x n, row-major, row stride ldc) += alpha * op(A) * op(B), where op(A) is m x k and op(B) is k x n.
  /// A is stored row-major with row stride lda: as m x k, or as k x m when `trans_a` (op(A) = A^T); likewise B
  /// (k x n, or n x k when `trans_b`).
  void accumulate(bool trans_a, bool trans_b, Eigen::Index m, Eigen::Index n, Eigen::Index k, Scalar alpha,
                  const Scalar* a, Eigen::Index lda, const Scalar* b, Eigen::Index ldb, Scalar* c, Eigen::Index ldc) {
    if (m == 0 || n == 0 || k == 0) return;
    // Eigen runs a row-major product as the column-major C^T = op(B)^T op(A)^T: its "rows" are our n.
    Eigen::Index kc = k, mc = n, nc = m;
    Eigen::internal::computeProductBlockingSizes<Scalar, Scalar, 1>(kc, mc, nc, Eigen::Index(1));
    m_blocking.set(kc, mc, nc, grow(m_a, kc * mc), grow(m_b, kc * nc));
    using Eigen::ColMajor, Eigen::RowMajor;
    // A row-major array read transposed is the same memory read column-major.
    if (!trans_a && !trans_b)
      run<RowMajor, RowMajor>(m, n, k, alpha, a, lda, b, ldb, c, ldc);
    else if (!trans_a)
      run<RowMajor, ColMajor>(m, n, k, alpha, a, lda, b, ldb, c, ldc);
    else if (!trans_b)
      run<ColMajor, RowMajor>(m, n, k, alpha, a, lda, b, ldb, c, ldc);
    else
      run<ColMajor, ColMajor>(m, n, k, alpha, a, lda, b, ldb, c, ldc);
  }

private:
  /// Eigen's blocking interface over buffers we own (gemm_blocking_space would allocate its own).
  struct blocking : Eigen::internal::level3_blocking<Scalar, Scalar> {
    void set(Eigen::Index kc, Eigen::Index mc, Eigen::Index nc, Scalar* a, Scalar* b) {
      this->m_kc = kc;
      this->m_mc = mc;
      this->m_nc = nc;
      this->m_blockA = a;
      this->m_blockB = b;
    }
  };
  using buffer = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>; // aligned as Eigen's kernels expect
  static Scalar* grow(buffer& v, Eigen::Index n) {
    if (v.size() < n) v.resize(n);
    return v.data();
  }
  template <int LhsOrder, int RhsOrder>
  void run(Eigen::Index m, Eigen::Index n, Eigen::Index k, Scalar alpha, const Scalar* a, Eigen::Index lda,
           const Scalar* b, Eigen::Index ldb, Scalar* c, Eigen::Index ldc) {
    Eigen::internal::general_matrix_matrix_product<Eigen::Index, Scalar, LhsOrder, false, Scalar, RhsOrder, false,
                                                   Eigen::RowMajor, 1>::run(m, n, k, a, lda, b, ldb, c, 1, ldc, alpha,
                                                                            m_blocking, nullptr);
  }
  blocking m_blocking;
  buffer m_a, m_b;
};

} // namespace apgen::nn
