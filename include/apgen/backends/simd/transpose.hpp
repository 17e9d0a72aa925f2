#pragma once
/// \file
/// A 16 x 16 float block transposed in AVX-512 registers (four rounds of 16 shuffles, no memory traffic): what
/// turns row-major activations or keys into the column order a broadcast kernel reads (the packed product's
/// activation tiles, attention's transposed keys). AVX-512 builds only; callers keep a scalar path.

#if defined(__AVX512F__)
#include <immintrin.h>

#include <cstddef>

namespace apgen::simd {

namespace detail {
// The zero-masking forms with every lane selected: the same instructions, but g++ 12's plain forms pass an
// _mm512_undefined_ps() operand that -Wall reports as "used uninitialized" in every translation unit that inlines
// them (a user's own target included).
inline __m512 unpacklo_ps(__m512 a, __m512 b) {
  return _mm512_maskz_unpacklo_ps(__mmask16(0xffff), a, b);
}
inline __m512 unpackhi_ps(__m512 a, __m512 b) {
  return _mm512_maskz_unpackhi_ps(__mmask16(0xffff), a, b);
}
inline __m512d unpacklo_pd(__m512d a, __m512d b) {
  return _mm512_maskz_unpacklo_pd(__mmask8(0xff), a, b);
}
inline __m512d unpackhi_pd(__m512d a, __m512d b) {
  return _mm512_maskz_unpackhi_pd(__mmask8(0xff), a, b);
}
template <int Imm>
inline __m512 shuffle_f32x4(__m512 a, __m512 b) {
  return _mm512_maskz_shuffle_f32x4(__mmask16(0xffff), a, b, Imm);
}
} // namespace detail

/// r[i] holds row i of the block on entry and column i on return.
inline void transpose16(__m512 (&r)[16]) {
  const auto as_pd = [](__m512 x) { return _mm512_castps_pd(x); };
  const auto as_ps = [](__m512d x) { return _mm512_castpd_ps(x); };
  // v[g][c], 128-bit lane L: rows 4g..4g+3 at column 4L + c.
  __m512 v[4][4];
  for (int g = 0; g < 4; ++g) {
    const __m512 lo01 = detail::unpacklo_ps(r[4 * g], r[4 * g + 1]), hi01 = detail::unpackhi_ps(r[4 * g], r[4 * g + 1]);
    const __m512 lo23 = detail::unpacklo_ps(r[4 * g + 2], r[4 * g + 3]),
                 hi23 = detail::unpackhi_ps(r[4 * g + 2], r[4 * g + 3]);
    v[g][0] = as_ps(detail::unpacklo_pd(as_pd(lo01), as_pd(lo23)));
    v[g][1] = as_ps(detail::unpackhi_pd(as_pd(lo01), as_pd(lo23)));
    v[g][2] = as_ps(detail::unpacklo_pd(as_pd(hi01), as_pd(hi23)));
    v[g][3] = as_ps(detail::unpackhi_pd(as_pd(hi01), as_pd(hi23)));
  }
  // Output row 4L + c takes lane L of v[0][c], v[1][c], v[2][c], v[3][c]: a 4 x 4 transpose of lanes.
  for (int c = 0; c < 4; ++c) {
    const __m512 x0 = detail::shuffle_f32x4<0x44>(v[0][c], v[1][c]), x1 = detail::shuffle_f32x4<0xee>(v[0][c], v[1][c]);
    const __m512 x2 = detail::shuffle_f32x4<0x44>(v[2][c], v[3][c]), x3 = detail::shuffle_f32x4<0xee>(v[2][c], v[3][c]);
    r[c] = detail::shuffle_f32x4<0x88>(x0, x2);
    r[4 + c] = detail::shuffle_f32x4<0xdd>(x0, x2);
    r[8 + c] = detail::shuffle_f32x4<0x88>(x1, x3);
    r[12 + c] = detail::shuffle_f32x4<0xdd>(x1, x3);
  }
}

/// The 16 x 16 block at src (row stride lds; rows from `rows` on read as zero) transposed into dst (row stride
/// ldd): dst's row j is the block's column j.
inline void transpose16(const float* src, std::size_t lds, std::size_t rows, float* dst, std::size_t ldd) {
  __m512 r[16];
  for (std::size_t i = 0; i < 16; ++i) r[i] = i < rows ? _mm512_loadu_ps(src + i * lds) : _mm512_setzero_ps();
  transpose16(r);
  for (std::size_t i = 0; i < 16; ++i) _mm512_storeu_ps(dst + i * ldd, r[i]);
}

} // namespace apgen::simd
#endif
