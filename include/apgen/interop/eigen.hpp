#pragma once
/// \file
/// Eigen views of score buffers, for denoisers written with Eigen: row r's token logits as a row-major
/// Eigen::Map (length x V) that a matrix product can write into directly, without a copy.

#include <apgen/core/denoiser_output.hpp>

#include <Eigen/Core>

namespace apgen::interop {

using row_major_map = Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
using const_row_major_map = Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

/// Row r's token logits (length(r) x V).
[[nodiscard]] inline row_major_map token_logits(denoiser_output& out, std::size_t r) {
  auto v = out.tokens(r);
  return {v.data(), static_cast<Eigen::Index>(v.rows()), static_cast<Eigen::Index>(v.cols())};
}
[[nodiscard]] inline const_row_major_map token_logits(const denoiser_output& out, std::size_t r) {
  auto v = out.tokens(r);
  return {v.data(), static_cast<Eigen::Index>(v.rows()), static_cast<Eigen::Index>(v.cols())};
}
/// Row r's control logits (length(r) x 3).
[[nodiscard]] inline row_major_map control_logits(denoiser_output& out, std::size_t r) {
  auto v = out.controls(r);
  return {v.data(), static_cast<Eigen::Index>(v.rows()), static_cast<Eigen::Index>(v.cols())};
}

} // namespace apgen::interop
