#pragma once
/// \file
/// A float buffer that grows on demand and is then reused: the per-thread scratch of the kernels (packed
/// activations, transposed keys), so that a forward in steady state allocates nothing. Aligned for the widest
/// vector the build targets (xsimd's default alignment, at least Eigen's).

#include <xsimd/xsimd.hpp>

#include <cstddef>
#include <vector>

namespace apgen::nn {

class scratch_buffer {
public:
  /// At least `floats` floats; the contents are whatever the last user left.
  float* get(std::size_t floats) {
    if (m_data.size() < floats) m_data.resize(floats);
    return m_data.data();
  }

private:
  std::vector<float, xsimd::aligned_allocator<float>> m_data;
};

} // namespace apgen::nn
