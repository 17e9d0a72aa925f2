#pragma once
/// \file
/// Training forward and backward of the transformer, in any scalar type (float to train, double to check
/// gradients against finite differences). A `batch_tape` holds rows packed one after another (no padding), as the
/// inference forward (nn/transformer.hpp) does: the dense layers (QKV, out, MLP, heads) run as one product over
/// every token of the batch, forward and backward (Y = X W^T, dX = dY W, dW += dY^T X), and attention runs per
/// (row, head), so a row's outputs and loss never depend on the other rows. The forward keeps in the tape what the
/// backward needs; the backward accumulates parameter gradients into a weights-shaped buffer, so a batch is a sum
/// over rows. Tape buffers only grow and products go through nn/gemm.hpp with packing buffers the tape owns, so once
/// a tape has seen its largest batch, a forward + backward allocates nothing.
/// `forward_row`, `row_loss_and_grad` and `backward_row` run the same pass on a batch of one row.
/// The computation is exactly docs/transformer.md without SUBS pinning (training reads raw logits); the MASK
/// logit is excluded from the token softmax, as at inference.
///
/// Losses (the paper's supervised process objective, per row):
///   token:   mean over positions with a target y_i >= 0 of -log softmax(z_i)[y_i]   (MASK excluded)
///   control: for each head k in (remask, insert, delete), mean over positions of BCE(sigmoid(c_ik), label_ik)
///   total = token_weight * token + control_weight * (remask + insert + delete)

#include <apgen/core/errors.hpp>
#include <apgen/nn/config.hpp>
#include <apgen/nn/gemm.hpp>
#include <apgen/nn/weights.hpp>

#include <unsupported/Eigen/SpecialFunctions>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <utility>
#include <vector>

namespace apgen::nn {

/// Supervision of one row: token targets (-1 = none) and control labels (0/1), one per position. Empty control
/// labels mean the controls are not supervised (MDM, ARM): their loss and gradient are zero.
struct row_targets {
  std::span<const token_id> tokens;
  std::span<const std::uint8_t> remask, insert, erase; ///< empty when the model has no control heads
};

struct loss_weights {
  double token = 1.0;
  double control = 1.0;
};

/// Loss of one row, by part.
struct row_loss {
  double token = 0, remask = 0, insert = 0, erase = 0, total = 0;
  std::size_t token_positions = 0;
};

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
    matrix up, gate;           ///< MLP pre-activations (T x ff; gate: SwiGLU only); GELU: gelu' at the pre-activation
    matrix act;                ///< MLP activation, the down projection's input (T x ff)
  };

  std::vector<token_id> tokens;                ///< every row's tokens, packed
  std::vector<std::vector<token_id>> features; ///< [feature][packed position]
  std::vector<std::size_t> offsets{0};         ///< row r holds packed positions [offsets[r], offsets[r + 1])
  std::vector<std::size_t> p_offsets;          ///< where row r's attention probabilities start in layer::p (head after head)
  std::vector<layer> layers;
  matrix z, z_hat;             ///< final LayerNorm output and normalised input
  std::vector<Scalar> rstd_f;
  matrix logits, controls;     ///< T x V and T x 3 (T x 0 without control heads)
  matrix d_logits, d_controls; ///< the loss's gradients, written by row_loss_and_grad, read by backward_batch
  // Scratch: the residual stream and its gradient, gradients of the layer inputs, of the MLP and of qkv.
  matrix h, dh, dx, d_ff, d_gate, d_qkv;
  buffer d_scores, d_transposed; ///< one head's dP / dS; a transposed product (accumulate_atb)
  gemm_workspace<Scalar> gemm;

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
      apgen::detail::fail<shape_mismatch>("training forward: ", row_features.size(), " feature rows for ", features.size(), " features");
    for (std::size_t k = 0; k < features.size(); ++k)
      if (row_features[k].size() < row.size())
        apgen::detail::fail<shape_mismatch>("training forward: feature ", k, " has ", row_features[k].size(), " positions for ", row.size(), " tokens");
    for (std::size_t k = 0; k < features.size(); ++k)
      features[k].insert(features[k].end(), row_features[k].begin(), row_features[k].begin() + static_cast<std::ptrdiff_t>(row.size()));
    tokens.insert(tokens.end(), row.begin(), row.end());
    offsets.push_back(tokens.size());
  }
  [[nodiscard]] std::size_t rows() const noexcept { return offsets.size() - 1; }
  /// Tokens of the batch (T).
  [[nodiscard]] std::size_t size() const noexcept { return tokens.size(); }
  [[nodiscard]] Eigen::Index row_begin(std::size_t r) const noexcept { return static_cast<Eigen::Index>(offsets[r]); }
  [[nodiscard]] Eigen::Index row_length(std::size_t r) const noexcept { return static_cast<Eigen::Index>(offsets[r + 1] - offsets[r]); }
  /// Row stride of an L x L score matrix: L rounded up to whole vectors, so that every score row starts aligned
  /// and the softmax runs in full vectors.
  [[nodiscard]] static Eigen::Index score_stride(Eigen::Index L) noexcept {
    constexpr Eigen::Index lanes = std::max<Eigen::Index>(1, EIGEN_MAX_ALIGN_BYTES / static_cast<Eigen::Index>(sizeof(Scalar)));
    return (L + lanes - 1) / lanes * lanes;
  }
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

/// y = LN(x) * w + b over the rows of x, keeping x_hat and 1/std per row.
template <class Scalar, class X, class Y, class XH, class W>
void ln_forward(const X& x, const W& w, const W& b, Scalar eps, Y&& y, XH&& x_hat, Scalar* rstd) {
  const auto d = static_cast<Scalar>(x.cols());
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    const auto xr = x.row(i);
    const Scalar mean = xr.sum() / d;
    const Scalar var = (xr.array() - mean).square().sum() / d;
    const Scalar r = Scalar(1) / std::sqrt(var + eps);
    rstd[i] = r;
    x_hat.row(i) = (xr.array() - mean) * r;
    y.row(i) = (x_hat.row(i).array() * w.array() + b.array()).matrix();
  }
}

/// Backward of LN over the rows of dy: writes the input gradient into dx (adds it with `accumulate`, the residual
/// form) and accumulates dw, db.
template <class Scalar, class DY, class XH, class W, class G, class DX>
void ln_backward(const DY& dy, const XH& x_hat, const Scalar* rstd, const W& w, G& dw, G& db, DX&& dx, bool accumulate) {
  const auto d = static_cast<Scalar>(dy.cols());
  for (Eigen::Index i = 0; i < dy.rows(); ++i) {
    const auto gr = dy.row(i);
    const auto xr = x_hat.row(i);
    dw.array() += gr.array() * xr.array();
    db += gr;
    // g = dy * w, recomputed in each expression rather than stored (no scratch row).
    const Scalar mean_g = (gr.array() * w.array()).sum() / d;
    const Scalar mean_gx = (gr.array() * w.array() * xr.array()).sum() / d;
    if (accumulate)
      dx.row(i).array() += (gr.array() * w.array() - mean_g - xr.array() * mean_gx) * rstd[i];
    else
      dx.row(i).array() = (gr.array() * w.array() - mean_g - xr.array() * mean_gx) * rstd[i];
  }
}

/// v += the sum of m's rows (bias gradients).
template <class M, class V>
void add_column_sums(const M& m, V& v) {
  for (Eigen::Index i = 0; i < m.rows(); ++i) v += m.row(i);
}

/// y = x W^T + b (y += x W^T + b with `accumulate`, the residual form), x and y blocks of row-major matrices. The
/// bias goes in first, so the product accumulates onto it in one pass.
template <class Scalar, class X, class Y>
void linear(gemm_workspace<Scalar>& gemm, const X& x, const basic_matrix<Scalar>& w, const basic_row_vector<Scalar>& b, Y&& y, bool accumulate) {
  if (accumulate)
    y.rowwise() += b;
  else
    y.rowwise() = b;
  gemm.accumulate(false, true, y.rows(), w.rows(), w.cols(), Scalar(1), x.data(), x.outerStride(), w.data(), w.outerStride(), y.data(),
                  y.outerStride());
}

/// cos and sin of the rotary angles in Scalar, cached per thread for (head dim, base) and grown on demand: the
/// angles do not change between rows, layers or steps.
template <class Scalar>
const std::vector<Scalar>& rope_angles(std::size_t positions, std::size_t dh, double base) {
  struct table {
    std::size_t dh = 0, positions = 0;
    double base = 0;
    std::vector<Scalar> cs; // [position][i] -> (cos, sin)
  };
  thread_local table t;
  if (t.dh != dh || t.base != base || t.positions < positions) {
    t.dh = dh;
    t.base = base;
    t.positions = std::max(positions, 2 * t.positions);
    const std::size_t h = dh / 2;
    t.cs.resize(t.positions * h * 2);
    for (std::size_t p = 0; p < t.positions; ++p)
      for (std::size_t i = 0; i < h; ++i) {
        const double theta = static_cast<double>(p) * std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(dh));
        t.cs[(p * h + i) * 2] = static_cast<Scalar>(std::cos(theta));
        t.cs[(p * h + i) * 2 + 1] = static_cast<Scalar>(std::sin(theta));
      }
  }
  return t.cs;
}

/// Rotary embedding of the first `heads` head blocks of n rows `stride` apart, at positions 0 .. n-1, in place;
/// inverse rotation (for gradients) when `inverse`.
template <class Scalar>
void rope_rows(Scalar* x, Eigen::Index stride, Eigen::Index n, std::size_t heads, std::size_t dh, double base, bool inverse) {
  const std::size_t h = dh / 2;
  const auto& cs = rope_angles<Scalar>(static_cast<std::size_t>(n), dh, base);
  for (Eigen::Index p = 0; p < n; ++p)
    for (std::size_t j = 0; j < heads; ++j) {
      Scalar* u = x + p * stride + static_cast<Eigen::Index>(j * dh);
      const Scalar* a = cs.data() + static_cast<std::size_t>(p) * h * 2;
      for (std::size_t i = 0; i < h; ++i) {
        const Scalar c = a[2 * i], s = inverse ? -a[2 * i + 1] : a[2 * i + 1];
        const Scalar v0 = u[i], v1 = u[i + h];
        u[i] = v0 * c - v1 * s;
        u[i + h] = v1 * c + v0 * s;
      }
    }
}

/// C (m x n, row stride ldc) += alpha A^T B for A (k x m) and B (k x n), all row-major. Eigen packs A for this
/// product with a strided copy that costs about as much per element as the multiply-adds of a narrow product
/// (A's rows become the kernel's right-hand side); so when A is the wider operand, this computes C^T = B^T A into
/// `scratch` instead, packing the narrower B that way, and adds it transposed.
template <class Scalar>
void accumulate_atb(gemm_workspace<Scalar>& gemm, Eigen::Matrix<Scalar, Eigen::Dynamic, 1>& scratch, Eigen::Index m, Eigen::Index n, Eigen::Index k,
                    Scalar alpha, const Scalar* a, Eigen::Index lda, const Scalar* b, Eigen::Index ldb, Scalar* c, Eigen::Index ldc) {
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

/// The keys [lo, hi) query i of an L-position row may attend to (causal and local-window masks).
inline std::pair<Eigen::Index, Eigen::Index> visible_keys(const transformer_config& c, Eigen::Index i, Eigen::Index L) {
  const auto w = static_cast<Eigen::Index>(c.attention_window);
  Eigen::Index lo = 0, hi = c.causal ? i + 1 : L;
  if (w > 0) {
    lo = std::max<Eigen::Index>(0, i - w);
    hi = std::min(hi, i + w + 1);
  }
  return {lo, hi};
}

/// The loss of one row from its logits and control logits (see the file comment), and its gradients with respect
/// to them (written, every element).
template <class Scalar, class Z, class C, class DZ, class DC>
row_loss loss_and_grad(const transformer_config& c, const Z& logits, const C& controls, const row_targets& y, const loss_weights& lw, DZ&& d_logits,
                       DC&& d_controls) {
  const auto L = logits.rows(), V = logits.cols();
  if (y.tokens.size() != static_cast<std::size_t>(L))
    apgen::detail::fail<shape_mismatch>("loss: ", y.tokens.size(), " token targets for ", L, " positions");
  row_loss out;
  d_logits.setZero();
  for (Eigen::Index i = 0; i < L; ++i)
    if (y.tokens[static_cast<std::size_t>(i)] >= 0) ++out.token_positions;
  const auto mask = static_cast<Eigen::Index>(c.mask_id);
  for (Eigen::Index i = 0; i < L; ++i) {
    const token_id target = y.tokens[static_cast<std::size_t>(i)];
    if (target < 0) continue;
    if (static_cast<std::size_t>(target) >= c.vocab_size || target == c.mask_id)
      apgen::detail::fail<invalid_token>("loss: target ", target, " at position ", i, " is not a token the head can predict");
    Scalar m = -std::numeric_limits<Scalar>::infinity();
    for (Eigen::Index v = 0; v < V; ++v)
      if (v != mask) m = std::max(m, logits(i, v));
    Scalar sum = 0;
    for (Eigen::Index v = 0; v < V; ++v)
      if (v != mask) sum += std::exp(logits(i, v) - m);
    const Scalar log_z = m + std::log(sum);
    out.token += static_cast<double>(log_z - logits(i, target));
    const Scalar g = static_cast<Scalar>(lw.token / static_cast<double>(out.token_positions));
    for (Eigen::Index v = 0; v < V; ++v)
      if (v != mask) d_logits(i, v) = g * std::exp(logits(i, v) - log_z);
    d_logits(i, target) -= g;
  }
  if (out.token_positions) out.token /= static_cast<double>(out.token_positions);
  d_controls.setZero();
  const bool supervised_controls = !(y.remask.empty() && y.insert.empty() && y.erase.empty());
  if (c.control_heads && supervised_controls) {
    const std::span<const std::uint8_t> labels[3] = {y.remask, y.insert, y.erase};
    double* parts[3] = {&out.remask, &out.insert, &out.erase};
    for (std::size_t k = 0; k < 3; ++k) {
      if (labels[k].size() != static_cast<std::size_t>(L))
        apgen::detail::fail<shape_mismatch>("loss: ", labels[k].size(), " labels for control ", k, ", expected ", L);
      for (Eigen::Index i = 0; i < L; ++i) {
        const Scalar x = controls(i, static_cast<Eigen::Index>(k));
        const Scalar label = labels[k][static_cast<std::size_t>(i)] ? Scalar(1) : Scalar(0);
        // BCE with logits, stably: max(x, 0) - x * label + log(1 + exp(-|x|)).
        *parts[k] += static_cast<double>(std::max(x, Scalar(0)) - x * label + std::log1p(std::exp(-std::abs(x)))) / static_cast<double>(L);
        d_controls(i, static_cast<Eigen::Index>(k)) = static_cast<Scalar>(lw.control / static_cast<double>(L)) * (Scalar(1) / (Scalar(1) + std::exp(-x)) - label);
      }
    }
  }
  out.total = lw.token * out.token + lw.control * (out.remask + out.insert + out.erase);
  return out;
}

} // namespace detail

/// Forward pass of every row of the tape for training: fills its activations, logits and control logits, and
/// zeroes the loss gradients (a row without a row_loss_and_grad call then contributes nothing to the backward).
template <class Scalar>
void forward_batch(const basic_transformer_weights<Scalar>& w, batch_tape<Scalar>& t) {
  using matrix = basic_matrix<Scalar>;
  const auto& c = w.config;
  const auto T = static_cast<Eigen::Index>(t.size()), d = static_cast<Eigen::Index>(c.d_model), ff = static_cast<Eigen::Index>(c.d_ff);
  const auto V = static_cast<Eigen::Index>(c.vocab_size), C = static_cast<Eigen::Index>(c.control_heads ? 3 : 0);
  const std::size_t H = c.n_heads, dh = c.head_dim();
  const Eigen::Index d3 = 3 * d, n = static_cast<Eigen::Index>(dh);
  if (t.features.size() != c.feature_vocab_sizes.size())
    apgen::detail::fail<shape_mismatch>("training forward: ", t.features.size(), " feature rows for ", c.feature_vocab_sizes.size(), " features");
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
        apgen::detail::fail<invalid_token>("training forward: token ", x, " at position ", i, " is outside the vocabulary");
      h.row(p) = w.tok_embed.row(x);
      for (std::size_t k = 0; k < t.features.size(); ++k) {
        const token_id f = t.features[k][static_cast<std::size_t>(p)];
        if (f < 0 || static_cast<std::size_t>(f) >= c.feature_vocab_sizes[k])
          apgen::detail::fail<invalid_token>("training forward: feature ", k, " at position ", i, " is ", f, ", outside its vocabulary");
        h.row(p) += w.feat_embed[k].row(f);
      }
    }
  const Scalar eps = static_cast<Scalar>(c.norm_eps), scale = Scalar(1) / std::sqrt(static_cast<Scalar>(dh));
  auto& gm = t.gemm;
  for (std::size_t l = 0; l < c.n_layers; ++l) {
    const auto& W = w.layers[l];
    auto& Lt = t.layers[l];
    auto a = Lt.a.topRows(T), qkv = Lt.qkv.topRows(T), att = Lt.att.topRows(T), m = Lt.m.topRows(T);
    detail::ln_forward(h, W.norm1_w, W.norm1_b, eps, a, Lt.a_hat.topRows(T), Lt.rstd1.data());
    detail::linear(gm, a, W.qkv_w, W.qkv_b, qkv, false);
    // Attention per (row, head): q and k rotated at their positions in the row (the 2H head blocks of q and k
    // sit side by side at the start of each qkv row), S = q k^T / sqrt(dh) into the tape's probability slot,
    // masked softmax in place, then the head's output P v.
    att.setZero();
    for (std::size_t r = 0; r < t.rows(); ++r) {
      const Eigen::Index o = t.row_begin(r), L = t.row_length(r), Ls = t.score_stride(L);
      Scalar* row_qkv = Lt.qkv.data() + o * d3;
      detail::rope_rows(row_qkv, d3, L, 2 * H, dh, c.rope_base, false);
      for (std::size_t j = 0; j < H; ++j) {
        const auto hj = static_cast<Eigen::Index>(j) * n;
        Scalar* P = Lt.p.data() + t.p_offsets[r] + j * static_cast<std::size_t>(L * Ls);
        Eigen::Map<matrix, 0, Eigen::OuterStride<>> S(P, L, L, Eigen::OuterStride<>(Ls));
        S.setZero();
        gm.accumulate(false, true, L, L, n, scale, row_qkv + hj, d3, row_qkv + d + hj, d3, P, Ls);
        for (Eigen::Index i = 0; i < L; ++i) {
          const auto [lo, hi] = detail::visible_keys(c, i, L);
          auto s = S.row(i);
          s.head(lo).setZero();
          s.tail(L - hi).setZero();
          auto v = s.segment(lo, hi - lo).array();
          const Scalar mx = v.maxCoeff();
          v = (v - mx).exp();
          v /= v.sum();
        }
        gm.accumulate(false, false, L, n, L, Scalar(1), P, Ls, row_qkv + 2 * d + hj, d3, Lt.att.data() + o * d + hj, d);
      }
    }
    detail::linear(gm, att, W.out_w, W.out_b, h, true);
    detail::ln_forward(h, W.norm2_w, W.norm2_b, eps, m, Lt.m_hat.topRows(T), Lt.rstd2.data());
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
  detail::ln_forward(h, w.norm_w, w.norm_b, eps, z, t.z_hat.topRows(T), t.rstd_f.data());
  detail::linear(gm, z, w.head_w, w.head_b, t.logits.topRows(T), false);
  if (c.control_heads) detail::linear(gm, z, w.ctl_w, w.ctl_b, t.controls.topRows(T), false);
  t.d_logits.topRows(T).setZero();
  t.d_controls.topRows(T).setZero();
}

/// The loss of row r of a batch's forward pass (see the file comment); its gradients with respect to the row's
/// logits go into the tape (d_logits, d_controls), where backward_batch reads them.
template <class Scalar>
row_loss row_loss_and_grad(const transformer_config& c, batch_tape<Scalar>& t, std::size_t r, const row_targets& y, const loss_weights& lw) {
  const Eigen::Index o = t.row_begin(r), L = t.row_length(r);
  return detail::loss_and_grad<Scalar>(c, t.logits.middleRows(o, L), t.controls.middleRows(o, L), y, lw, t.d_logits.middleRows(o, L),
                                       t.d_controls.middleRows(o, L));
}

/// Backward pass of every row of the tape, from the loss gradients in it: accumulates parameter gradients into
/// `g` (same layout as the weights).
template <class Scalar>
void backward_batch(const basic_transformer_weights<Scalar>& w, batch_tape<Scalar>& t, basic_transformer_weights<Scalar>& g) {
  const auto& c = w.config;
  const auto T = static_cast<Eigen::Index>(t.size()), d = static_cast<Eigen::Index>(c.d_model);
  const std::size_t H = c.n_heads, hd = c.head_dim();
  const Eigen::Index d3 = 3 * d, n = static_cast<Eigen::Index>(hd);
  const Scalar scale = Scalar(1) / std::sqrt(static_cast<Scalar>(hd));
  auto& gm = t.gemm;
  // dW += dY^T X and dX (+)= dY W for a linear layer Y = X W^T, on the top T rows of row-major blocks.
  auto weight_grad = [&](const auto& dy, const auto& x, auto& dw) {
    detail::accumulate_atb(gm, t.d_transposed, dw.rows(), dw.cols(), T, Scalar(1), dy.data(), dy.outerStride(), x.data(), x.outerStride(), dw.data(),
                           dw.outerStride());
  };
  auto input_grad = [&](const auto& dy, const auto& w_, auto&& dx) {
    gm.accumulate(false, false, T, w_.cols(), w_.rows(), Scalar(1), dy.data(), dy.outerStride(), w_.data(), w_.outerStride(), dx.data(), dx.outerStride());
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
  detail::ln_backward(dz, t.z_hat.topRows(T), t.rstd_f.data(), w.norm_w, g.norm_w, g.norm_b, dh, false);
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
    detail::ln_backward(dm, Lt.m_hat.topRows(T), Lt.rstd2.data(), W.norm2_w, G.norm2_w, G.norm2_b, dh, true);
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
      detail::rope_rows(row_dqkv, d3, L, 2 * H, hd, c.rope_base, true);
    }
    weight_grad(dqkv, Lt.a.topRows(T), G.qkv_w);
    detail::add_column_sums(dqkv, G.qkv_b);
    auto da = t.dx.topRows(T);
    da.setZero();
    input_grad(dqkv, W.qkv_w, da);
    detail::ln_backward(da, Lt.a_hat.topRows(T), Lt.rstd1.data(), W.norm1_w, G.norm1_w, G.norm1_b, dh, true);
  }
  for (Eigen::Index i = 0; i < T; ++i) {
    const auto p = static_cast<std::size_t>(i);
    g.tok_embed.row(t.tokens[p]) += dh.row(i);
    for (std::size_t k = 0; k < t.features.size(); ++k) g.feat_embed[k].row(t.features[k][p]) += dh.row(i);
  }
}

/// One row's forward pass for training: the row as a batch of one, and copies of its outputs.
template <class Scalar>
struct row_tape {
  batch_tape<Scalar> batch;
  basic_matrix<Scalar> logits;   ///< L x V
  basic_matrix<Scalar> controls; ///< L x 3 (L x 0 without control heads)
};

/// Forward pass of one row for training: fills the tape (logits and control logits included).
template <class Scalar>
void forward_row(const basic_transformer_weights<Scalar>& w, std::span<const token_id> tokens, const std::vector<std::vector<token_id>>& features,
                 row_tape<Scalar>& t) {
  t.batch.clear(w.config);
  t.batch.add_row(tokens, features);
  forward_batch(w, t.batch);
  const auto L = static_cast<Eigen::Index>(tokens.size());
  t.logits = t.batch.logits.topRows(L);
  t.controls = t.batch.controls.topRows(L);
}

/// The loss of a forward pass (see the file comment) and its gradients with respect to the logits.
template <class Scalar>
row_loss row_loss_and_grad(const transformer_config& c, const row_tape<Scalar>& t, const row_targets& y, const loss_weights& lw,
                           basic_matrix<Scalar>& d_logits, basic_matrix<Scalar>& d_controls) {
  d_logits.resize(t.logits.rows(), t.logits.cols());
  d_controls.resize(t.controls.rows(), t.controls.cols());
  return detail::loss_and_grad<Scalar>(c, t.logits, t.controls, y, lw, d_logits, d_controls);
}

/// Backward pass of one row: accumulates parameter gradients into `g` (same layout as the weights). The tape is
/// the pass's scratch too, hence not const.
template <class Scalar>
void backward_row(const basic_transformer_weights<Scalar>& w, row_tape<Scalar>& t, const basic_matrix<Scalar>& d_logits,
                  const basic_matrix<Scalar>& d_controls, basic_transformer_weights<Scalar>& g) {
  const auto L = static_cast<Eigen::Index>(t.batch.size());
  if (d_logits.rows() != L || d_logits.cols() != t.logits.cols() || d_controls.rows() != L || d_controls.cols() != t.controls.cols())
    apgen::detail::fail<shape_mismatch>("backward: gradients of ", d_logits.rows(), " and ", d_controls.rows(), " positions for a row of ", L);
  t.batch.d_logits.topRows(L) = d_logits;
  t.batch.d_controls.topRows(L) = d_controls;
  backward_batch(w, t.batch, g);
}

} // namespace apgen::nn
