#pragma once
/// \file
/// x * y + z as one fused instruction on an xsimd batch.
///
/// Why not xsimd::fma: xsimd 8.1 (Debian 12's) has no AVX-512 overload of fma, so on an avx512bw batch it falls
/// back to the generic `x * y + z`, and clang keeps that as a multiply and an add (it does not contract across
/// the inline call). Every polynomial and dot-product kernel of the library then issues twice the arithmetic it
/// needs. Here the vector width picks the intrinsic; other batches keep xsimd's own fma.

#include <xsimd/xsimd.hpp>

#include <cstddef>
#include <type_traits>

#if defined(__AVX512F__) || defined(__FMA__)
#include <immintrin.h>
#endif

namespace apgen::simd {

template <class T, class A>
[[nodiscard]] inline xsimd::batch<T, A> fmadd(xsimd::batch<T, A> x, xsimd::batch<T, A> y,
                                              xsimd::batch<T, A> z) noexcept {
  using batch = xsimd::batch<T, A>;
  [[maybe_unused]] constexpr std::size_t bytes = sizeof(T) * batch::size;
#if defined(__AVX512F__)
  if constexpr (bytes == 64 && std::is_same_v<T, float>) return batch(_mm512_fmadd_ps(x, y, z));
  if constexpr (bytes == 64 && std::is_same_v<T, double>) return batch(_mm512_fmadd_pd(x, y, z));
#endif
#if defined(__FMA__)
  if constexpr (bytes == 32 && std::is_same_v<T, float>) return batch(_mm256_fmadd_ps(x, y, z));
  if constexpr (bytes == 32 && std::is_same_v<T, double>) return batch(_mm256_fmadd_pd(x, y, z));
#endif
  return xsimd::fma(x, y, z);
}

} // namespace apgen::simd
