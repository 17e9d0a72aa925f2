#pragma once
/// \file
/// The backward pass of the transformer over a batch_tape, from the loss gradients train/loss.hpp wrote into it:
/// dX = dY W and dW += dY^T X per dense layer over every token of the batch, attention per (row, head), and the
/// backward of the shared LayerNorm and RoPE (nn/ops/). Parameter gradients accumulate into a weights-shaped
/// buffer, so a batch is a sum over rows. Includes the training forward it differentiates.

#include <apgen/core/errors.hpp>
#include <apgen/nn/config.hpp>
#include <apgen/nn/gemm.hpp>
#include <apgen/nn/ops/layer_norm.hpp>
#include <apgen/nn/ops/rope.hpp>
#include <apgen/nn/training_forward.hpp>
#include <apgen/nn/training_tape.hpp>
#include <apgen/nn/weights.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace apgen::nn {

namespace detail {

/// v += the sum of m's rows (bias gradients).
template <class M, class V>
void add_column_sums(const M& m, V& v) {
  for (Eigen::Index i = 0; i < m.rows(); ++i) v += m.row(i);
}

/// C (m x n, row stride ldc) += alpha A^T B for A (k x m) and B (k x n), all row-major. Eigen packs A for this
/// product with a strided copy that costs about as much per element as the multiply-adds of a narrow product
/// (A's rows become the kernel's right-hand side); so when A is the wider operand, this computes C^T = B^T A into
/// `scratch` instead, packing the narrower B that way, and adds it transposed.
template <class Scalar>
void accumulate_atb(gemm_workspace<Scalar>& gemm, Eigen::Matrix<Scalar, Eigen::Dynamic, 1>& scratch, Eigen::Index m,
                    Eigen::Index n, Eigen::Index k, Scalar alpha, const Scalar* a, Eigen::Index lda, const Scalar* b,
                    Eigen::Index ldb, Scalar* c, Eigen::Index ldc) {
  if (m <= n) {
    gemm.accumulate(true, false, m, n, k, alpha, a, lda, b, ldb, c, ldc);
    return;
  }
  grow_buffer(scratch, m * n);
  Eigen::Map<basic_matrix<Scalar>> ct(scratch.data(), n, m);
  ct.setZero();
  gemm.accumulate(true, false, n, m, k, alpha, b, ldb, a, lda, ct.data(), m);
  Eigen::Map<basic_matrix<Scalar>, 0, Eigen::OuterStride<>>(c, m, n, Eigen::OuterStride<>(ldc)) += ct.transpose();
}

} // namespace detail

/// Backward pass of every row of the tape, from the loss gradients in it: accumulates parameter gradients into
/// `g` (same layout as the weights).
template <class Scalar>
void backward_batch(const basic_transformer_weights<Scalar>& w, batch_tape<Scalar>& t,
                    basic_transformer_weights<Scalar>& g) {
  const auto& c = w.config;
  const auto T = static_cast<Eigen::Index>(t.size()), d = static_cast<Eigen::Index>(c.d_model);
  const std::size_t H = c.n_heads, hd = c.head_dim();
  const Eigen::Index d3 = 3 * d, n = static_cast<Eigen::Index>(hd);
  const Scalar scale = Scalar(1) / std::sqrt(static_cast<Scalar>(hd));
  auto& gm = t.gemm;
  // dW += dY^T X and dX (+)= dY W for a linear layer Y = X W^T, on the top T rows of row-major blocks.
  auto weight_grad = [&](const auto& dy, const auto& x, auto& dw) {
    detail::accumulate_atb(gm, t.d_transposed, dw.rows(), dw.cols(), T, Scalar(1), dy.data(), dy.outerStride(),
                           x.data(), x.outerStride(), dw.data(), dw.outerStride());
  };
  auto input_grad = [&](const auto& dy, const auto& w_, auto&& dx) {
    gm.accumulate(false, false, T, w_.cols(), w_.rows(), Scalar(1), dy.data(), dy.outerStride(), w_.data(),
                  w_.outerStride(), dx.data(), dx.outerStride());
  };
  // Heads.
  const auto dl = t.d_logits.topRows(T), z = t.z.topRows(T);
  weight_grad(dl, z, g.head_w);
  detail::add_column_sums(dl, g.head_b);
  auto dz = t.dx.topRows(T);
  dz.setZero();
  input_grad(dl, w.head_w, dz);
  if (c.control_heads) {
    const auto dc = t.d_controls.topRows(T);
    weight_grad(dc, z, g.ctl_w);
    detail::add_column_sums(dc, g.ctl_b);
    input_grad(dc, w.ctl_w, dz);
  }
  auto dh = t.dh.topRows(T);
  layer_norm_backward_rows(dz, t.z_hat.topRows(T), t.rstd_f.data(), w.norm_w, g.norm_w, g.norm_b, dh, false);
  for (std::size_t l = c.n_layers; l-- > 0;) {
    const auto& W = w.layers[l];
    auto& G = g.layers[l];
    auto& Lt = t.layers[l];
    const auto m = Lt.m.topRows(T), up = Lt.up.topRows(T);
    // MLP: h_out = h + act W_down^T + b_down.
    weight_grad(dh, Lt.act.topRows(T), G.down_w);
    detail::add_column_sums(dh, G.down_b);
    auto d_up = t.d_ff.topRows(T); // d_act first, then the up projection's output gradient in place
    d_up.setZero();
    input_grad(dh, W.down_w, d_up);
    auto dm = t.dx.topRows(T);
    dm.setZero();
    if (c.act == activation::gelu) {
      d_up.array() *= up.array(); // the forward left gelu'(x) there
      weight_grad(d_up, m, G.up_w);
      detail::add_column_sums(d_up, G.up_b);
      input_grad(d_up, W.up_w, dm);
    } else {
      const auto gate = Lt.gate.topRows(T).array();
      const auto sig = Scalar(1) / (Scalar(1) + (-gate).exp());
      auto d_gate = t.d_gate.topRows(T);
      d_gate.array() = d_up.array() * up.array() * sig * (Scalar(1) + gate * (Scalar(1) - sig));
      d_up.array() *= gate * sig;
      weight_grad(d_up, m, G.up_w);
      detail::add_column_sums(d_up, G.up_b);
      weight_grad(d_gate, m, G.gate_w);
      detail::add_column_sums(d_gate, G.gate_b);
      input_grad(d_up, W.up_w, dm);
      input_grad(d_gate, W.gate_w, dm);
    }
    layer_norm_backward_rows(dm, Lt.m_hat.topRows(T), Lt.rstd2.data(), W.norm2_w, G.norm2_w, G.norm2_b, dh, true);
    // Attention: h = x + att W_out^T + b_out.
    weight_grad(dh, Lt.att.topRows(T), G.out_w);
    detail::add_column_sums(dh, G.out_b);
    auto d_att = t.dx.topRows(T);
    d_att.setZero();
    input_grad(dh, W.out_w, d_att);
    auto dqkv = t.d_qkv.topRows(T);
    dqkv.setZero();
    for (std::size_t r = 0; r < t.rows(); ++r) {
      const Eigen::Index o = t.row_begin(r), L = t.row_length(r), Ls = t.score_stride(L);
      const Scalar* row_qkv = Lt.qkv.data() + o * d3;
      Scalar* row_dqkv = t.d_qkv.data() + o * d3;
      detail::grow_buffer(t.d_scores, L * Ls);
      Scalar* dS = t.d_scores.data();
      using map = Eigen::Map<basic_matrix<Scalar>, 0, Eigen::OuterStride<>>;
      map dSm(dS, L, L, Eigen::OuterStride<>(Ls));
      for (std::size_t j = 0; j < H; ++j) {
        const auto hj = static_cast<Eigen::Index>(j) * n;
        const Scalar* P = Lt.p.data() + t.p_offsets[r] + j * static_cast<std::size_t>(L * Ls);
        const Eigen::Map<const basic_matrix<Scalar>, 0, Eigen::OuterStride<>> Pm(P, L, L, Eigen::OuterStride<>(Ls));
        const Scalar* dO = t.dx.data() + o * d + hj;
        // dV = P^T dO; dP = dO V^T; dS = P * (dP - rowsum(dP * P)); dQ = dS K / sqrt(dh); dK = dS^T Q / sqrt(dh).
        detail::accumulate_atb(gm, t.d_transposed, L, n, L, Scalar(1), P, Ls, dO, d, row_dqkv + 2 * d + hj, d3);
        dSm.setZero();
        gm.accumulate(false, true, L, L, n, Scalar(1), dO, d, row_qkv + 2 * d + hj, d3, dS, Ls);
        for (Eigen::Index i = 0; i < L; ++i) {
          const Scalar dot = (dSm.row(i).array() * Pm.row(i).array()).sum();
          dSm.row(i).array() = Pm.row(i).array() * (dSm.row(i).array() - dot);
        }
        gm.accumulate(false, false, L, n, L, scale, dS, Ls, row_qkv + d + hj, d3, row_dqkv + hj, d3);
        detail::accumulate_atb(gm, t.d_transposed, L, n, L, scale, dS, Ls, row_qkv + hj, d3, row_dqkv + d + hj, d3);
      }
      if (c.rope) rope_rows<true>(row_dqkv, d3, static_cast<std::size_t>(L), 2 * H, hd, t.rope);
    }
    weight_grad(dqkv, Lt.a.topRows(T), G.qkv_w);
    detail::add_column_sums(dqkv, G.qkv_b);
    auto da = t.dx.topRows(T);
    da.setZero();
    input_grad(dqkv, W.qkv_w, da);
    layer_norm_backward_rows(da, Lt.a_hat.topRows(T), Lt.rstd1.data(), W.norm1_w, G.norm1_w, G.norm1_b, dh, true);
  }
  for (Eigen::Index i = 0; i < T; ++i) {
    const auto p = static_cast<std::size_t>(i);
    g.tok_embed.row(t.tokens[p]) += dh.row(i);
    for (std::size_t k = 0; k < t.features.size(); ++k) g.feat_embed[k].row(t.features[k][p]) += dh.row(i);
  }
}

/// Backward pass of one row: accumulates parameter gradients into `g` (same layout as the weights). The tape is
/// the pass's scratch too, hence not const.
template <class Scalar>
void backward_row(const basic_transformer_weights<Scalar>& w, row_tape<Scalar>& t, const basic_matrix<Scalar>& d_logits,
                  const basic_matrix<Scalar>& d_controls, basic_transformer_weights<Scalar>& g) {
  const auto L = static_cast<Eigen::Index>(t.batch.size());
  if (d_logits.rows() != L || d_logits.cols() != t.logits.cols() || d_controls.rows() != L ||
      d_controls.cols() != t.controls.cols())
    apgen::detail::fail<shape_mismatch>("backward: gradients of ", d_logits.rows(), " and ", d_controls.rows(),
                                        " positions for a row of ", L);
  t.batch.d_logits.topRows(L) = d_logits;
  t.batch.d_controls.topRows(L) = d_controls;
  backward_batch(w, t.batch, g);
}

} // namespace apgen::nn
