#pragma once
/// \file
/// The last, partial vector of a row: the first `count` (< lanes) floats at p loaded as one xsimd batch with the
/// other lanes set to `fill`, and the matching partial store. Kernels that keep a row's tail in vector code
/// compute every element by the same instructions (the row kernels' results then do not depend on where a row
/// starts) and keep scalar library calls out of their loops (the token pass's tail took glibc's double exp).
/// AVX-512 has masked loads and stores; elsewhere the lanes go through a small aligned buffer.

#include <xsimd/xsimd.hpp>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstddef>

namespace apgen::simd {

[[nodiscard]] inline xsimd::batch<float> load_partial(const float* p, std::size_t count, float fill) {
  using batch = xsimd::batch<float>;
#if defined(__AVX512F__)
  if constexpr (batch::size == 16)
    return batch(_mm512_mask_loadu_ps(_mm512_set1_ps(fill), static_cast<__mmask16>((1u << count) - 1u), p));
#endif
  alignas(64) float buf[batch::size];
  std::fill(buf, buf + batch::size, fill);
  std::copy(p, p + count, buf);
  return batch::load_aligned(buf);
}

inline void store_partial(float* p, std::size_t count, xsimd::batch<float> v) {
  using batch = xsimd::batch<float>;
#if defined(__AVX512F__)
  if constexpr (batch::size == 16) {
    _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << count) - 1u), v);
    return;
  }
#endif
  alignas(64) float buf[batch::size];
  v.store_aligned(buf);
  std::copy(buf, buf + count, p);
}

} // namespace apgen::simd
