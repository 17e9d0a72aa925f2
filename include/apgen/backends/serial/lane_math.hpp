#pragma once
/// \file
/// Scalar twins of the simd backend's lane arithmetic (backends/simd/fma.hpp, exp.hpp and x86 max/min), each
/// giving one lane's result bit for bit. The serial backend computes the vector kernels' functions with them, one
/// lane at a time, so serial and simd make the same decisions on the same scores, near-ties included.
///
/// Every multiply-add here is spelled as the vector code spells it (fused exactly where the vector code fuses);
/// the library builds in ISO mode, where GCC does not contract a * b + c, and the clang pragma keeps clang from
/// contracting inside an expression.

#include <bit>
#include <cmath>
#include <cstdint>

namespace apgen::backends::serial_impl {

/// simd::fmadd on one lane: fused where the build's vectors fuse (AVX-512 or FMA), a multiply and an add where
/// xsimd's generic fma runs instead.
[[nodiscard]] inline float lane_fmadd(float x, float y, float z) noexcept {
#if defined(__AVX512F__) || defined(__FMA__)
  return std::fma(x, y, z);
#else
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
  const float product = x * y;
  return product + z;
#endif
}

/// x86 max (maxps): the second operand when the first is not greater, NaN included.
[[nodiscard]] constexpr float lane_max(float a, float b) noexcept {
  return a > b ? a : b;
}
/// x86 min (minps): the second operand when the first is not smaller, NaN included.
[[nodiscard]] constexpr float lane_min(float a, float b) noexcept {
  return a < b ? a : b;
}

/// apgen::exp_nonpositive on one lane (same reduction, same polynomial, same order of operations).
template <int Degree = 5>
[[nodiscard]] inline float lane_exp_nonpositive(float x) noexcept {
  static_assert(Degree == 5 || Degree == 6, "lane_exp_nonpositive: degree 5 or 6");
  x = lane_max(-87.0f, x);
  const float n = std::nearbyint(x * 1.44269504088896341f);
  float r = lane_fmadd(n, -0.693359375f, x);
  r = lane_fmadd(n, 2.12194440e-4f, r);
  float p = Degree == 6 ? 1.0f / 720.0f : 1.0f / 120.0f;
  if constexpr (Degree == 6) p = lane_fmadd(p, r, 1.0f / 120.0f);
  p = lane_fmadd(p, r, 1.0f / 24.0f);
  p = lane_fmadd(p, r, 1.0f / 6.0f);
  p = lane_fmadd(p, r, 0.5f);
  p = lane_fmadd(p, r, 1.0f);
  p = lane_fmadd(p, r, 1.0f);
  const auto e = static_cast<std::uint32_t>((static_cast<std::int32_t>(n) + 127) << 23);
  return p * std::bit_cast<float>(e);
}

} // namespace apgen::backends::serial_impl
