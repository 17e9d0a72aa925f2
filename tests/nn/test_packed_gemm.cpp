// The pre-packed weight product (nn/packed_gemm.hpp) against a plain double-precision product, on shapes that
// exercise every edge of the blocking: single rows and columns, sizes that are not multiples of the kernel's
// panels, several k-slices and weight-row blocks, and output strides wider than the output.
#include <apgen/nn/packed_gemm.hpp>

#include <doctest/doctest.h>

#include <initializer_list>
#include <random>

namespace {
using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
struct shape {
  Eigen::Index m, n, k, pad = 0; // C is m x n (pad extra columns), the depth is k
};
// Unit-normal entries in every matrix (and the bias, when given).
void fill_normal(std::mt19937& rng, std::initializer_list<matrix*> ms, Eigen::RowVectorXf* bias = nullptr) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (auto* x : ms)
    for (Eigen::Index i = 0; i < x->size(); ++i) x->data()[i] = nd(rng);
  if (bias)
    for (Eigen::Index i = 0; i < bias->size(); ++i) (*bias)[i] = nd(rng);
}
} // namespace

TEST_CASE("packed weights: C += A W^T matches a double-precision product") {
  std::mt19937 rng(12);
  for (const shape sh : {shape{1, 1, 1}, shape{1, 7, 3}, shape{5, 1, 9}, shape{37, 700, 300}, shape{300, 48, 17},
                         shape{81, 384, 128}, shape{13, 2100, 1100}, shape{600, 130, 520}}) {
    const Eigen::Index m = sh.m, n = sh.n, k = sh.k; // plain locals: clang 14 cannot capture structured bindings
    matrix a(m, k + 3), w(n, k + 5), c(m, n + 2);    // wider than used: strides differ from widths
    fill_normal(rng, {&a, &w, &c});
    const Eigen::MatrixXd expect =
        c.leftCols(n).cast<double>() + a.leftCols(k).cast<double>() * w.leftCols(k).cast<double>().transpose();
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

TEST_CASE("packed weights: C = A W^T + b and C += A W^T + b add the bias once, in every row block") {
  std::mt19937 rng(13);
  const Eigen::Index block = apgen::nn::packed_weight::max_block_rows;
  // Widths below, at and past one row block (and several blocks), depths of 0 (bias only) and several k-slices.
  for (const shape sh : {shape{1, 1, 1}, shape{7, 5, 0}, shape{9, block, 31}, shape{33, block + 1, 64},
                         shape{300, 3 * block + 17, 1100}}) {
    const Eigen::Index m = sh.m, n = sh.n, k = sh.k;
    matrix a(m, k + 1), w(n, k + 1), c(m, n + 3);
    Eigen::RowVectorXf bias(n);
    fill_normal(rng, {&a, &w, &c}, &bias);
    const Eigen::MatrixXd product = a.leftCols(k).cast<double>() * w.leftCols(k).cast<double>().transpose();
    const Eigen::MatrixXd with_bias = product.rowwise() + bias.cast<double>();
    apgen::nn::packed_weight p;
    p.pack(w.data(), w.outerStride(), n, k);
    apgen::nn::packed_gemm_scratch scratch;
    const double tol = 1e-4 * std::sqrt(static_cast<double>(k + 1)) * 4;
    CAPTURE(m);
    CAPTURE(n);
    CAPTURE(k);
    const matrix before = c;
    p.apply(a.data(), a.outerStride(), bias.data(), c.data(), c.outerStride(), m, true, scratch);
    CHECK((c.leftCols(n).cast<double>() - before.leftCols(n).cast<double>() - with_bias).cwiseAbs().maxCoeff() < tol);
    p.apply(a.data(), a.outerStride(), bias.data(), c.data(), c.outerStride(), m, false, scratch);
    CHECK((c.leftCols(n).cast<double>() - with_bias).cwiseAbs().maxCoeff() < tol);
    p.apply(a.data(), a.outerStride(), nullptr, c.data(), c.outerStride(), m, false, scratch); // no bias: C = A W^T
    CHECK((c.leftCols(n).cast<double>() - product).cwiseAbs().maxCoeff() < tol);
    CHECK(c.rightCols(3) == before.rightCols(3));
  }
}

TEST_CASE("packed weights: the streamed form C = A W^T + b matches, at any destination alignment") {
  std::mt19937 rng(14);
  const Eigen::Index block = apgen::nn::packed_weight::max_block_rows;
  // More activation rows than one packed chunk, several row blocks, several k-slices, a zero depth, and row
  // strides that leave the rows unaligned for streaming stores.
  for (const shape sh : {shape{1, 1, 1, 0}, shape{3, 17, 0, 1}, shape{40, block + 5, 64, 3},
                         shape{600, 2 * block + 33, 1100, 0}, shape{7, 3 * block, 96, 16}}) {
    const Eigen::Index m = sh.m, n = sh.n, k = sh.k;
    matrix a(m, k + 1), w(n, k + 2), c(m, n + sh.pad);
    Eigen::RowVectorXf bias(n);
    fill_normal(rng, {&a, &w, &c}, &bias);
    const Eigen::MatrixXd expect =
        (a.leftCols(k).cast<double>() * w.leftCols(k).cast<double>().transpose()).rowwise() + bias.cast<double>();
    apgen::nn::packed_weight p;
    p.pack(w.data(), w.outerStride(), n, k);
    apgen::nn::packed_gemm_scratch scratch;
    const matrix before = c;
    CAPTURE(m);
    CAPTURE(n);
    CAPTURE(k);
    p.apply_streamed(a.data(), a.outerStride(), bias.data(), c.data(), c.outerStride(), m, scratch);
    CHECK((c.leftCols(n).cast<double>() - expect).cwiseAbs().maxCoeff() <
          1e-4 * std::sqrt(static_cast<double>(k + 1)) * 4);
    CHECK(c.rightCols(sh.pad) == before.rightCols(sh.pad));
  }
}
