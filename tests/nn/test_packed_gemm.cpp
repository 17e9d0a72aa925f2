// The pre-packed weight product (nn/packed_gemm.hpp) against a plain double-precision product, on shapes that
// exercise every edge of the blocking: single rows and columns, sizes that are not multiples of the kernel's
// panels, several k-slices and weight-row blocks, and output strides wider than the output.
#include <apgen/nn/packed_gemm.hpp>

#include <doctest/doctest.h>

#include <random>

TEST_CASE("packed weights: C += A W^T matches a double-precision product") {
  std::mt19937 rng(12);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  struct shape {
    Eigen::Index m, n, k;
  };
  for (const shape sh : {shape{1, 1, 1}, shape{1, 7, 3}, shape{5, 1, 9}, shape{37, 700, 300}, shape{300, 48, 17},
                         shape{81, 384, 128}, shape{13, 2100, 1100}, shape{600, 130, 520}}) {
    const Eigen::Index m = sh.m, n = sh.n, k = sh.k; // plain locals: clang 14 cannot capture structured bindings
    matrix a(m, k + 3), w(n, k + 5), c(m, n + 2); // wider than used: strides differ from widths
    for (auto* x : {&a, &w, &c})
      for (Eigen::Index i = 0; i < x->size(); ++i) x->data()[i] = nd(rng);
    const Eigen::MatrixXd expect = c.leftCols(n).cast<double>() + a.leftCols(k).cast<double>() * w.leftCols(k).cast<double>().transpose();
    apgen::nn::packed_weight p;
    p.pack(w.data(), w.outerStride(), n, k);
    CHECK(p.rows() == n);
    CHECK(p.cols() == k);
    apgen::nn::packed_gemm_scratch scratch;
    const matrix before = c;
    p.accumulate(a.data(), a.outerStride(), c.data(), c.outerStride(), m, scratch);
    const double err = (c.leftCols(n).cast<double>() - expect).cwiseAbs().maxCoeff();
    CAPTURE(m);
    CAPTURE(n);
    CAPTURE(k);
    CHECK(err < 1e-4 * std::sqrt(static_cast<double>(k)) * 4);
    CHECK(c.rightCols(2) == before.rightCols(2)); // the padding columns are not touched
  }
}
