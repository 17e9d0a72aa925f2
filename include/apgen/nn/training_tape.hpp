#pragma once
/// \file
/// The training pass's tape: a batch of rows packed one after another (no padding), as the inference forward
/// (nn/transformer.hpp) packs them, with the activations the forward keeps for the backward and the scratch of
/// both passes. nn/training_forward.hpp fills it, train/loss.hpp reads its logits and writes their gradients into
/// it, nn/backward.hpp reads it back. Every buffer only grows, so once a tape has seen its largest batch a forward +
/// backward allocates nothing.

#include <apgen/core/errors.hpp>
#include <apgen/nn/config.hpp>
#include <apgen/nn/gemm.hpp>
#include <apgen/nn/ops/rope.hpp>
#include <apgen/nn/weights.hpp>

#include <algorithm>
#include <cstddef>
#include <span>
#include <vector>

namespace apgen::nn {

/// A batch of rows packed one after another, the activations of its forward pass (kept for the backward pass)
/// and the scratch of both passes. Build it with `clear` and `add_row`, then run `forward_batch`,
/// `row_loss_and_grad` for every row, and `backward_batch`. Every buffer only grows: matrices may have more rows
/// than the batch has tokens, and only their top `size()` rows are the batch's. Storage is Eigen's (aligned), so
/// where a value sits relative to a vector boundary depends only on its place in the batch: the same batch gives
/// the same bits whatever the tape held before.
template <class Scalar>
struct batch_tape {
  using matrix = basic_matrix<Scalar>;
  using buffer = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  /// Activations of one block (T = tokens of the batch).
  struct layer {
    matrix a, a_hat;           ///< LayerNorm1 output and normalised input (T x d)
    std::vector<Scalar> rstd1; ///< LayerNorm1 1/std per token
    matrix qkv;                ///< q and k (after RoPE) and v (T x 3d)
    buffer p;                  ///< attention probabilities, L x L with row stride score_stride(L) per (row, head)
    matrix att;                ///< concatenated head outputs (T x d)
    matrix m, m_hat;           ///< LayerNorm2 output and normalised input (T x d)
    std::vector<Scalar> rstd2;
    matrix up, gate; ///< MLP pre-activations (T x ff; gate: SwiGLU only); GELU: gelu' at the pre-activation
    matrix act;      ///< MLP activation, the down projection's input (T x ff)
  };

  std::vector<token_id> tokens;                ///< every row's tokens, packed
  std::vector<std::vector<token_id>> features; ///< [feature][packed position]
  std::vector<std::size_t> offsets{0};         ///< row r holds packed positions [offsets[r], offsets[r + 1])
  std::vector<std::size_t> p_offsets; ///< where row r's attention probabilities start in layer::p (head after head)
  std::vector<layer> layers;
  matrix z, z_hat; ///< final LayerNorm output and normalised input
  std::vector<Scalar> rstd_f;
  matrix logits, controls;     ///< T x V and T x 3 (T x 0 without control heads)
  matrix d_logits, d_controls; ///< the loss's gradients, written by row_loss_and_grad, read by backward_batch
  // Scratch: the residual stream and its gradient, gradients of the layer inputs, of the MLP and of qkv.
  matrix h, dh, dx, d_ff, d_gate, d_qkv;
  buffer d_scores, d_transposed; ///< one head's dP / dS; a transposed product (accumulate_atb)
  gemm_workspace<Scalar> gemm;
  basic_rope_table<Scalar> rope; ///< rotary angles for the longest row seen

  /// Starts an empty batch for a model with `c`'s features.
  void clear(const transformer_config& c) {
    tokens.clear();
    offsets.assign(1, 0);
    features.resize(c.feature_vocab_sizes.size());
    for (auto& f : features) f.clear();
  }
  /// Appends a row: its tokens and its feature ids ([feature][position], one feature row per model feature).
  void add_row(std::span<const token_id> row, const std::vector<std::vector<token_id>>& row_features) {
    if (row_features.size() != features.size())
      apgen::detail::fail<shape_mismatch>("training forward: ", row_features.size(), " feature rows for ",
                                          features.size(), " features");
    for (std::size_t k = 0; k < features.size(); ++k)
      if (row_features[k].size() < row.size())
        apgen::detail::fail<shape_mismatch>("training forward: feature ", k, " has ", row_features[k].size(),
                                            " positions for ", row.size(), " tokens");
    for (std::size_t k = 0; k < features.size(); ++k)
      features[k].insert(features[k].end(), row_features[k].begin(),
                         row_features[k].begin() + static_cast<std::ptrdiff_t>(row.size()));
    tokens.insert(tokens.end(), row.begin(), row.end());
    offsets.push_back(tokens.size());
  }
  [[nodiscard]] std::size_t rows() const noexcept { return offsets.size() - 1; }
  /// Tokens of the batch (T).
  [[nodiscard]] std::size_t size() const noexcept { return tokens.size(); }
  [[nodiscard]] Eigen::Index row_begin(std::size_t r) const noexcept { return static_cast<Eigen::Index>(offsets[r]); }
  [[nodiscard]] Eigen::Index row_length(std::size_t r) const noexcept {
    return static_cast<Eigen::Index>(offsets[r + 1] - offsets[r]);
  }
  /// Row stride of an L x L score matrix: L rounded up to whole vectors, so that every score row starts aligned
  /// and the softmax runs in full vectors.
  [[nodiscard]] static Eigen::Index score_stride(Eigen::Index L) noexcept {
    constexpr Eigen::Index lanes =
        std::max<Eigen::Index>(1, EIGEN_MAX_ALIGN_BYTES / static_cast<Eigen::Index>(sizeof(Scalar)));
    return (L + lanes - 1) / lanes * lanes;
  }
};

/// One row's forward pass for training: the row as a batch of one, and copies of its outputs.
template <class Scalar>
struct row_tape {
  batch_tape<Scalar> batch;
  basic_matrix<Scalar> logits;   ///< L x V
  basic_matrix<Scalar> controls; ///< L x 3 (L x 0 without control heads)
};

namespace detail {

/// Makes m at least rows x cols, keeping its storage when it is large enough (tape buffers only grow).
template <class M>
void grow_rows(M& m, Eigen::Index rows, Eigen::Index cols) {
  if (m.rows() < rows || m.cols() != cols) m.resize(std::max(rows, m.rows()), cols);
}
template <class Scalar>
void grow_buffer(Eigen::Matrix<Scalar, Eigen::Dynamic, 1>& v, Eigen::Index n) {
  if (v.size() < n) v.resize(n);
}

} // namespace detail

} // namespace apgen::nn
