#pragma once
/// \file
/// The training forward of the transformer, in any scalar type (float to train, double to check gradients against
/// finite differences), over a batch_tape (nn/training_tape.hpp). The dense layers (QKV, out, MLP, heads) run as one
/// product over every token of the batch (Y = X W^T), and attention runs per (row, head), so a row's outputs never
/// depend on the other rows. LayerNorm, RoPE, the attention masks and the attention softmax are the inference
/// forward's own (nn/ops/), so the two passes compute one model; the computation is docs/transformer.md without
/// SUBS pinning (training reads raw logits).

#include <apgen/core/errors.hpp>
#include <apgen/nn/config.hpp>
#include <apgen/nn/gemm.hpp>
#include <apgen/nn/ops/attention_mask.hpp>
#include <apgen/nn/ops/layer_norm.hpp>
#include <apgen/nn/ops/rope.hpp>
#include <apgen/nn/ops/softmax.hpp>
#include <apgen/nn/training_tape.hpp>
#include <apgen/nn/weights.hpp>

#include <unsupported/Eigen/SpecialFunctions>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <vector>

namespace apgen::nn {

namespace detail {

/// y = x W^T + b (y += x W^T + b with `accumulate`, the residual form), x and y blocks of row-major matrices. The
/// bias goes in first, so the product accumulates onto it in one pass.
template <class Scalar, class X, class Y>
void linear(gemm_workspace<Scalar>& gemm, const X& x, const basic_matrix<Scalar>& w, const basic_row_vector<Scalar>& b,
            Y&& y, bool accumulate) {
  if (accumulate)
    y.rowwise() += b;
  else
    y.rowwise() = b;
  gemm.accumulate(false, true, y.rows(), w.rows(), w.cols(), Scalar(1), x.data(), x.outerStride(), w.data(),
                  w.outerStride(), y.data(), y.outerStride());
}

} // namespace detail

/// Forward pass of every row of the tape for training: fills its activations, logits and control logits, and
/// zeroes the loss gradients (a row without a row_loss_and_grad call then contributes nothing to the backward).
template <class Scalar>
void forward_batch(const basic_transformer_weights<Scalar>& w, batch_tape<Scalar>& t) {
  using matrix = basic_matrix<Scalar>;
  const auto& c = w.config;
  const auto T = static_cast<Eigen::Index>(t.size()), d = static_cast<Eigen::Index>(c.d_model),
             ff = static_cast<Eigen::Index>(c.d_ff);
  const auto V = static_cast<Eigen::Index>(c.vocab_size), C = static_cast<Eigen::Index>(c.control_heads ? 3 : 0);
  const std::size_t H = c.n_heads, dh = c.head_dim();
  const Eigen::Index d3 = 3 * d, n = static_cast<Eigen::Index>(dh);
  if (t.features.size() != c.feature_vocab_sizes.size())
    apgen::detail::fail<shape_mismatch>("training forward: ", t.features.size(), " feature rows for ",
                                        c.feature_vocab_sizes.size(), " features");
  // Sizes: every buffer grows to this batch.
  t.p_offsets.resize(t.rows() + 1);
  t.p_offsets[0] = 0;
  for (std::size_t r = 0; r < t.rows(); ++r) {
    const Eigen::Index L = t.row_length(r);
    t.p_offsets[r + 1] = t.p_offsets[r] + H * static_cast<std::size_t>(L * t.score_stride(L));
  }
  t.layers.resize(c.n_layers);
  for (auto& Lt : t.layers) {
    for (matrix* m : {&Lt.a, &Lt.a_hat, &Lt.att, &Lt.m, &Lt.m_hat}) detail::grow_rows(*m, T, d);
    detail::grow_rows(Lt.qkv, T, d3);
    detail::grow_rows(Lt.up, T, ff);
    detail::grow_rows(Lt.act, T, ff);
    if (c.act == activation::swiglu) detail::grow_rows(Lt.gate, T, ff);
    Lt.rstd1.resize(t.size());
    Lt.rstd2.resize(t.size());
    detail::grow_buffer(Lt.p, static_cast<Eigen::Index>(t.p_offsets.back()));
  }
  for (matrix* m : {&t.h, &t.dh, &t.dx, &t.z, &t.z_hat}) detail::grow_rows(*m, T, d);
  detail::grow_rows(t.d_ff, T, ff);
  if (c.act == activation::swiglu) detail::grow_rows(t.d_gate, T, ff);
  detail::grow_rows(t.d_qkv, T, d3);
  detail::grow_rows(t.logits, T, V);
  detail::grow_rows(t.d_logits, T, V);
  detail::grow_rows(t.controls, T, C);
  detail::grow_rows(t.d_controls, T, C);
  t.rstd_f.resize(t.size());

  // Embeddings.
  auto h = t.h.topRows(T);
  for (std::size_t r = 0; r < t.rows(); ++r)
    for (Eigen::Index i = 0; i < t.row_length(r); ++i) {
      const Eigen::Index p = t.row_begin(r) + i;
      const token_id x = t.tokens[static_cast<std::size_t>(p)];
      if (x < 0 || static_cast<std::size_t>(x) >= c.vocab_size)
        apgen::detail::fail<invalid_token>("training forward: token ", x, " at position ", i,
                                           " is outside the vocabulary");
      h.row(p) = w.tok_embed.row(x);
      for (std::size_t k = 0; k < t.features.size(); ++k) {
        const token_id f = t.features[k][static_cast<std::size_t>(p)];
        if (f < 0 || static_cast<std::size_t>(f) >= c.feature_vocab_sizes[k])
          apgen::detail::fail<invalid_token>("training forward: feature ", k, " at position ", i, " is ", f,
                                             ", outside its vocabulary");
        h.row(p) += w.feat_embed[k].row(f);
      }
    }
  const Scalar eps = static_cast<Scalar>(c.norm_eps), scale = Scalar(1) / std::sqrt(static_cast<Scalar>(dh));
  Eigen::Index longest = 0;
  for (std::size_t r = 0; r < t.rows(); ++r) longest = std::max(longest, t.row_length(r));
  t.rope.ensure(static_cast<std::size_t>(longest), dh, c.rope_base);
  auto& gm = t.gemm;
  for (std::size_t l = 0; l < c.n_layers; ++l) {
    const auto& W = w.layers[l];
    auto& Lt = t.layers[l];
    auto a = Lt.a.topRows(T), qkv = Lt.qkv.topRows(T), att = Lt.att.topRows(T), m = Lt.m.topRows(T);
    layer_norm_rows(h, a, W.norm1_w, W.norm1_b, eps, Lt.a_hat.topRows(T), Lt.rstd1.data());
    detail::linear(gm, a, W.qkv_w, W.qkv_b, qkv, false);
    // Attention per (row, head): q and k rotated at their positions in the row (the 2H head blocks of q and k
    // sit side by side at the start of each qkv row), S = q k^T / sqrt(dh) into the tape's probability slot,
    // masked softmax in place, then the head's output P v.
    att.setZero();
    for (std::size_t r = 0; r < t.rows(); ++r) {
      const Eigen::Index o = t.row_begin(r), L = t.row_length(r), Ls = t.score_stride(L);
      Scalar* row_qkv = Lt.qkv.data() + o * d3;
      if (c.rope) rope_rows(row_qkv, d3, static_cast<std::size_t>(L), 2 * H, dh, t.rope);
      for (std::size_t j = 0; j < H; ++j) {
        const auto hj = static_cast<Eigen::Index>(j) * n;
        Scalar* P = Lt.p.data() + t.p_offsets[r] + j * static_cast<std::size_t>(L * Ls);
        Eigen::Map<matrix, 0, Eigen::OuterStride<>> S(P, L, L, Eigen::OuterStride<>(Ls));
        S.setZero();
        gm.accumulate(false, true, L, L, n, scale, row_qkv + hj, d3, row_qkv + d + hj, d3, P, Ls);
        if (masks_keys(c, L))
          for (Eigen::Index i = 0; i < L; ++i) {
            const auto [lo, hi] = visible_keys(c, i, L);
            S.row(i).head(lo).setConstant(-std::numeric_limits<Scalar>::infinity());
            S.row(i).tail(L - hi).setConstant(-std::numeric_limits<Scalar>::infinity());
          }
        softmax_rows(S);
        gm.accumulate(false, false, L, n, L, Scalar(1), P, Ls, row_qkv + 2 * d + hj, d3, Lt.att.data() + o * d + hj, d);
      }
    }
    detail::linear(gm, att, W.out_w, W.out_b, h, true);
    layer_norm_rows(h, m, W.norm2_w, W.norm2_b, eps, Lt.m_hat.topRows(T), Lt.rstd2.data());
    auto up = Lt.up.topRows(T), act = Lt.act.topRows(T);
    detail::linear(gm, m, W.up_w, W.up_b, up, false);
    if (c.act == activation::gelu) {
      // act = x Phi(x), and x is replaced by gelu'(x) = Phi(x) + x phi(x), all the backward needs: one erf and
      // one exp per element for both passes. Phi(x) goes through a row of d_ff (free until the backward).
      for (Eigen::Index i = 0; i < T; ++i) {
        auto x = up.row(i).array();
        auto cdf = t.d_ff.row(i).array();
        cdf = Scalar(0.5) * (Scalar(1) + (x * Scalar(0.70710678118654752440)).erf());
        act.row(i).array() = x * cdf;
        x = cdf + x * (Scalar(-0.5) * x.square()).exp() * Scalar(0.39894228040143267794);
      }
    } else {
      auto gate = Lt.gate.topRows(T);
      detail::linear(gm, m, W.gate_w, W.gate_b, gate, false);
      act.array() = gate.array() / (Scalar(1) + (-gate.array()).exp()) * up.array();
    }
    detail::linear(gm, act, W.down_w, W.down_b, h, true);
  }
  auto z = t.z.topRows(T);
  layer_norm_rows(h, z, w.norm_w, w.norm_b, eps, t.z_hat.topRows(T), t.rstd_f.data());
  detail::linear(gm, z, w.head_w, w.head_b, t.logits.topRows(T), false);
  if (c.control_heads) detail::linear(gm, z, w.ctl_w, w.ctl_b, t.controls.topRows(T), false);
  t.d_logits.topRows(T).setZero();
  t.d_controls.topRows(T).setZero();
}

/// Forward pass of one row for training: fills the tape (logits and control logits included).
template <class Scalar>
void forward_row(const basic_transformer_weights<Scalar>& w, std::span<const token_id> tokens,
                 const std::vector<std::vector<token_id>>& features, row_tape<Scalar>& t) {
  t.batch.clear(w.config);
  t.batch.add_row(tokens, features);
  forward_batch(w, t.batch);
  const auto L = static_cast<Eigen::Index>(tokens.size());
  t.logits = t.batch.logits.topRows(L);
  t.controls = t.batch.controls.topRows(L);
}

} // namespace apgen::nn
