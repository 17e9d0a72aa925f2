// The attention head's vector kernels (nn/attention_kernels.hpp) against double-precision products, on shapes that
// exercise every edge: one query or key, key counts that are not whole vectors (the padded columns), query counts
// that leave a partial tile, every supported head width, and strides wider than the head.
#include <apgen/nn/attention_kernels.hpp>
#include <apgen/nn/ops/softmax.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <vector>

namespace ak = apgen::nn::attention_kernels;

TEST_CASE("attention kernels: S = Q K^T and O = P V match double-precision products") {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  ak::scratch work;
  for (std::size_t vectors = 1; vectors <= 4; ++vectors) {
    const std::size_t dh = vectors * ak::lanes;
    REQUIRE(ak::supports(dh));
    for (const std::size_t nq : {1u, 5u, 14u, 15u, 81u}) {
      for (const std::size_t nk : {1u, 7u, 16u, 33u, 81u, 130u}) {
        const std::size_t ld = 3 * dh + 5; // rows of Q, K and V are strided like the fused QKV buffer
        std::vector<float> q(nq * ld), k(nk * ld), v(nk * ld);
        for (auto* x : {&q, &k, &v})
          for (auto& e : *x) e = nd(rng);
        const std::size_t lds = ak::padded_keys(nk) + 3;
        std::vector<float> s(nq * lds, 7.0f);
        ak::scores(q.data(), ld, k.data(), ld, nq, nk, dh, s.data(), lds, work);
        double worst_s = 0;
        for (std::size_t i = 0; i < nq; ++i)
          for (std::size_t j = 0; j < nk; ++j) {
            double ref = 0;
            for (std::size_t t = 0; t < dh; ++t) ref += static_cast<double>(q[i * ld + t]) * k[j * ld + t];
            worst_s = std::max(worst_s, std::abs(ref - s[i * lds + j]));
          }
        // Columns past the padded keys belong to the caller: untouched.
        for (std::size_t i = 0; i < nq; ++i)
          for (std::size_t j = ak::padded_keys(nk); j < lds; ++j) CHECK(s[i * lds + j] == 7.0f);

        const std::size_t ldo = dh + 3;
        std::vector<float> o(nq * ldo, 7.0f);
        ak::values(s.data(), lds, v.data(), ld, nq, nk, dh, o.data(), ldo);
        double worst_o = 0;
        for (std::size_t i = 0; i < nq; ++i) {
          for (std::size_t c = 0; c < dh; ++c) {
            double ref = 0;
            for (std::size_t j = 0; j < nk; ++j) ref += static_cast<double>(s[i * lds + j]) * v[j * ld + c];
            worst_o = std::max(worst_o, std::abs(ref - o[i * ldo + c]));
          }
          for (std::size_t c = dh; c < ldo; ++c) CHECK(o[i * ldo + c] == 7.0f);
        }
        // With a per-row scale (a softmax's 1 / sum), each output row is the plain product's row times its scale.
        std::vector<float> row_scale(nq), o_scaled(nq * ldo, 7.0f);
        for (std::size_t i = 0; i < nq; ++i) row_scale[i] = 0.25f + static_cast<float>(i % 7);
        ak::values(s.data(), lds, v.data(), ld, nq, nk, dh, o_scaled.data(), ldo, row_scale.data());
        double worst_scaled = 0;
        for (std::size_t i = 0; i < nq; ++i)
          for (std::size_t c = 0; c < dh; ++c)
            worst_scaled = std::max(worst_scaled, std::abs(static_cast<double>(o_scaled[i * ldo + c]) -
                                                           static_cast<double>(o[i * ldo + c]) * row_scale[i]));
        CAPTURE(dh);
        CAPTURE(nq);
        CAPTURE(nk);
        // Sums of dh (or nk) products of unit normals (scores reach ~sqrt(dh)): float rounding stays far below this.
        CHECK(worst_s < 1e-5 * static_cast<double>(dh));
        CHECK(worst_o < 1e-5 * static_cast<double>(nk) * std::sqrt(static_cast<double>(dh)));
        CHECK(worst_scaled < 1e-5 * static_cast<double>(nk) * std::sqrt(static_cast<double>(dh)) * 7);
      }
    }
  }
}

TEST_CASE("attention kernels: a head width that is not whole vectors is refused, for the general product to take") {
  CHECK_FALSE(ak::supports(ak::lanes + 1));
  CHECK_FALSE(ak::supports(5 * ak::lanes));
  CHECK(ak::padded_keys(1) == ak::lanes);
  CHECK(ak::padded_keys(ak::lanes) == ak::lanes);
}

TEST_CASE("softmax: rows left as exponentials with 1 / sum on the side equal the normalised rows") {
  using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  std::mt19937 rng(6);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  for (const Eigen::Index n : {1, 5, 16, 17, 81, 256}) {
    matrix a(9, n + 2);
    for (Eigen::Index i = 0; i < a.size(); ++i) a.data()[i] = nd(rng);
    if (n > 1) a(2, 0) = -std::numeric_limits<float>::infinity(); // a masked key (a row always keeps one key)
    matrix b = a;
    using row_block =
        Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0, Eigen::OuterStride<>>;
    row_block ra(a.data(), 9, n, Eigen::OuterStride<>(n + 2)), rb(b.data(), 9, n, Eigen::OuterStride<>(n + 2));
    apgen::nn::softmax_rows(ra, 0.5f);
    std::vector<float> inv(9);
    apgen::nn::softmax_rows(rb, 0.5f, inv.data());
    CAPTURE(n);
    for (Eigen::Index i = 0; i < 9; ++i) {
      CHECK(std::abs(ra.row(i).sum() - 1.0f) < 1e-5f);
      for (Eigen::Index j = 0; j < n; ++j)
        CHECK(std::abs(rb(i, j) * inv[static_cast<std::size_t>(i)] - ra(i, j)) <= 1e-6f * (1 + ra(i, j)));
    }
    if (n > 1) {
      CHECK(ra(2, 0) == 0.0f);
      CHECK(rb(2, 0) == 0.0f);
    }
    CHECK(a.rightCols(2) == b.rightCols(2)); // past the row: untouched by either form
  }
}
