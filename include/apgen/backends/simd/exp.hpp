#pragma once
/// \file
/// exp(x) for x <= 0 on an xsimd batch, the one exponential of the library's vector kernels (the token pass's
/// online softmax and the transformer's attention softmax). Cody-Waite reduction to r in [-ln2/2, ln2/2], a Taylor
/// polynomial in r, and the exponent put back with an integer add. The degree sets the accuracy: 5 gives a
/// relative error below 3e-6 (enough to rank tokens), 6 below 2e-7 (about one float ulp, what attention needs to
/// agree with a reference). Inputs below -87 give ~2^-126 rather than subnormals; NaN propagates (the clamp keeps
/// a NaN operand).

#include <apgen/backends/simd/fma.hpp>

#include <xsimd/xsimd.hpp>

namespace apgen {

template <int Degree = 5, class Batch>
[[nodiscard]] inline Batch exp_nonpositive(Batch x) noexcept {
  static_assert(Degree == 5 || Degree == 6, "exp_nonpositive: degree 5 or 6");
  x = xsimd::max(Batch(-87.0f), x); // x86 max returns its second operand when either is NaN
  const Batch n = xsimd::nearbyint(x * Batch(1.44269504088896341f));
  Batch r = simd::fmadd(n, Batch(-0.693359375f), x);
  r = simd::fmadd(n, Batch(2.12194440e-4f), r);
  Batch p(Degree == 6 ? 1.0f / 720.0f : 1.0f / 120.0f);
  if constexpr (Degree == 6) p = simd::fmadd(p, r, Batch(1.0f / 120.0f));
  p = simd::fmadd(p, r, Batch(1.0f / 24.0f));
  p = simd::fmadd(p, r, Batch(1.0f / 6.0f));
  p = simd::fmadd(p, r, Batch(0.5f));
  p = simd::fmadd(p, r, Batch(1.0f));
  p = simd::fmadd(p, r, Batch(1.0f));
  const auto e = (xsimd::to_int(n) + 127) << 23;
  return p * xsimd::bitwise_cast<Batch>(e);
}

} // namespace apgen
