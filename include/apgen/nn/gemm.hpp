#pragma once
/// \file
/// C += A B^T for row-major float matrices (A: m x k activations, B: n x k weights as PyTorch stores them), through
/// Eigen's GEMM kernel with packing buffers we own. Eigen's product expressions allocate their packing buffers on
/// the heap for layer-sized products (above its 128 KB stack limit), and glibc hands such blocks back to the OS on
/// free, so every product page-faulted. Keeping one blocking object per (thread, shape) makes steady-state
/// products allocation-free. This uses Eigen 3.4's internal GEMM entry point; the static_assert below guards it.

#include <apgen/interop/eigen.hpp>

#include <cstddef>
#include <memory>
#include <vector>

static_assert(EIGEN_WORLD_VERSION == 3 && EIGEN_MAJOR_VERSION == 4,
              "apgen::nn::gemm uses Eigen 3.4's internal GEMM interface; check it before moving to another Eigen");

namespace apgen::nn {

/// Packing buffers for the products of one thread, reused across calls.
class gemm_buffers {
  using blocking_t = Eigen::internal::gemm_blocking_space<Eigen::RowMajor, float, float, Eigen::Dynamic, Eigen::Dynamic, Eigen::Dynamic, 1, false>;
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
inline void gemm_accumulate_abt(const float* a, Eigen::Index lda, const float* b, Eigen::Index ldb, float* c, Eigen::Index ldc,
                                Eigen::Index m, Eigen::Index n, Eigen::Index k, gemm_buffers& buffers) {
  if (m == 0 || n == 0) return;
  // B^T is k x n column-major with stride ldb: exactly B's row-major memory.
  Eigen::internal::general_matrix_matrix_product<Eigen::Index, float, Eigen::RowMajor, false, float, Eigen::ColMajor, false, Eigen::RowMajor,
                                                 1>::run(m, n, k, a, lda, b, ldb, c, 1, ldc, 1.0f, buffers.get(m, n, k), nullptr);
}

} // namespace apgen::nn
