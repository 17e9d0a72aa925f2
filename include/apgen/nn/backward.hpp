#pragma once
/// \file
/// Training forward and backward of the transformer for one row, in any scalar type (float to train, double to
/// check gradients against finite differences). The forward keeps what the backward needs (a `row_tape`); the
/// backward accumulates parameter gradients into a weights-shaped buffer, so a batch is a sum over rows.
/// The computation is exactly docs/transformer.md without SUBS pinning (training reads raw logits); the MASK
/// logit is excluded from the token softmax, as at inference.
///
/// Losses (the paper's supervised process objective, per row):
///   token:   mean over positions with a target y_i >= 0 of -log softmax(z_i)[y_i]   (MASK excluded)
///   control: for each head k in (remask, insert, delete), mean over positions of BCE(sigmoid(c_ik), label_ik)
///   total = token_weight * token + control_weight * (remask + insert + delete)

#include <apgen/core/errors.hpp>
#include <apgen/nn/config.hpp>
#include <apgen/nn/weights.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
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

/// Activations of one row's forward pass, kept for the backward pass.
template <class Scalar>
struct row_tape {
  using matrix = basic_matrix<Scalar>;
  struct layer {
    matrix x;           ///< block input (L x d)
    matrix a, a_hat;    ///< LayerNorm1 output and normalised input
    std::vector<Scalar> rstd1;
    matrix q, k, v;     ///< after RoPE (q, k), L x d
    std::vector<matrix> p; ///< attention probabilities per head, L x L
    matrix att;         ///< concatenated head outputs
    matrix h;           ///< after the attention residual
    matrix m, m_hat;    ///< LayerNorm2 output and normalised input
    std::vector<Scalar> rstd2;
    matrix up, gate;    ///< pre-activations
    matrix act;         ///< MLP activation (input of the down projection)
  };
  std::vector<token_id> tokens;
  std::vector<std::vector<token_id>> features; ///< [feature][position]
  std::vector<layer> layers;
  matrix h_final, z, z_hat;
  std::vector<Scalar> rstd_f;
  matrix logits, controls;
};

namespace detail {

template <class Scalar>
Scalar gelu(Scalar x) {
  return Scalar(0.5) * x * (Scalar(1) + std::erf(x / std::sqrt(Scalar(2))));
}
template <class Scalar>
Scalar gelu_grad(Scalar x) {
  const Scalar cdf = Scalar(0.5) * (Scalar(1) + std::erf(x / std::sqrt(Scalar(2))));
  const Scalar pdf = std::exp(Scalar(-0.5) * x * x) / std::sqrt(Scalar(2) * Scalar(3.14159265358979323846));
  return cdf + x * pdf;
}
template <class Scalar>
Scalar sigmoid(Scalar x) {
  return Scalar(1) / (Scalar(1) + std::exp(-x));
}

/// y = LN(x) * w + b, keeping x_hat and 1/std per row.
template <class Scalar, class W>
void ln_forward(const basic_matrix<Scalar>& x, const W& w, const W& b, Scalar eps, basic_matrix<Scalar>& y, basic_matrix<Scalar>& x_hat,
                std::vector<Scalar>& rstd) {
  const auto n = x.rows(), d = x.cols();
  y.resize(n, d);
  x_hat.resize(n, d);
  rstd.resize(static_cast<std::size_t>(n));
  for (Eigen::Index i = 0; i < n; ++i) {
    const Scalar mean = x.row(i).sum() / static_cast<Scalar>(d);
    const Scalar var = (x.row(i).array() - mean).square().sum() / static_cast<Scalar>(d);
    const Scalar r = Scalar(1) / std::sqrt(var + eps);
    rstd[static_cast<std::size_t>(i)] = r;
    x_hat.row(i) = (x.row(i).array() - mean) * r;
    y.row(i) = (x_hat.row(i).array() * w.array() + b.array()).matrix();
  }
}

/// Backward of LN: returns dx, accumulates dw, db.
template <class Scalar, class W, class G>
basic_matrix<Scalar> ln_backward(const basic_matrix<Scalar>& dy, const basic_matrix<Scalar>& x_hat, const std::vector<Scalar>& rstd, const W& w,
                                 G& dw, G& db) {
  const auto n = dy.rows(), d = dy.cols();
  basic_matrix<Scalar> dx(n, d);
  for (Eigen::Index i = 0; i < n; ++i) {
    dw.array() += dy.row(i).array() * x_hat.row(i).array();
    db += dy.row(i);
    const auto g = (dy.row(i).array() * w.array()).eval();
    const Scalar mean_g = g.sum() / static_cast<Scalar>(d);
    const Scalar mean_gx = (g * x_hat.row(i).array()).sum() / static_cast<Scalar>(d);
    dx.row(i) = ((g - mean_g - x_hat.row(i).array() * mean_gx) * rstd[static_cast<std::size_t>(i)]).matrix();
  }
  return dx;
}

/// cos and sin of the rotary angles, cached per thread for (head dim, base) and grown on demand: the angles do
/// not change between rows, layers or steps.
inline const std::vector<double>& rope_angles(std::size_t positions, std::size_t dh, double base) {
  struct table {
    std::size_t dh = 0, positions = 0;
    double base = 0;
    std::vector<double> cs; // [position][i] -> (cos, sin)
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
        t.cs[(p * h + i) * 2] = std::cos(theta);
        t.cs[(p * h + i) * 2 + 1] = std::sin(theta);
      }
  }
  return t.cs;
}

/// Rotary embedding of every head of the first `heads` head-blocks of x (L x heads*dh), in place; inverse
/// rotation (for gradients) when `inverse`.
template <class Scalar>
void rope_rows(basic_matrix<Scalar>& x, std::size_t heads, std::size_t dh, double base, bool inverse) {
  const std::size_t h = dh / 2;
  const auto& cs = rope_angles(static_cast<std::size_t>(x.rows()), dh, base);
  for (Eigen::Index p = 0; p < x.rows(); ++p)
    for (std::size_t j = 0; j < heads; ++j) {
      Scalar* u = x.row(p).data() + j * dh;
      const double* a = cs.data() + static_cast<std::size_t>(p) * h * 2;
      for (std::size_t i = 0; i < h; ++i) {
        const Scalar c = static_cast<Scalar>(a[2 * i]), s = static_cast<Scalar>(inverse ? -a[2 * i + 1] : a[2 * i + 1]);
        const Scalar v0 = u[i], v1 = u[i + h];
        u[i] = v0 * c - v1 * s;
        u[i + h] = v1 * c + v0 * s;
      }
    }
}

} // namespace detail

/// Forward pass of one row for training: fills the tape (logits and control logits included).
template <class Scalar>
void forward_row(const basic_transformer_weights<Scalar>& w, std::span<const token_id> tokens,
                 const std::vector<std::vector<token_id>>& features, row_tape<Scalar>& t) {
  using matrix = basic_matrix<Scalar>;
  const auto& c = w.config;
  const auto L = static_cast<Eigen::Index>(tokens.size()), d = static_cast<Eigen::Index>(c.d_model);
  const std::size_t H = c.n_heads, dh = c.head_dim();
  if (features.size() != c.feature_vocab_sizes.size())
    apgen::detail::fail<shape_mismatch>("training forward: ", features.size(), " feature rows for ", c.feature_vocab_sizes.size(), " features");
  t.tokens.assign(tokens.begin(), tokens.end());
  t.features = features;
  matrix h(L, d);
  for (Eigen::Index i = 0; i < L; ++i) {
    const token_id x = tokens[static_cast<std::size_t>(i)];
    if (x < 0 || static_cast<std::size_t>(x) >= c.vocab_size)
      apgen::detail::fail<invalid_token>("training forward: token ", x, " at position ", i, " is outside the vocabulary");
    h.row(i) = w.tok_embed.row(x);
    for (std::size_t k = 0; k < features.size(); ++k) {
      const token_id f = features[k].at(static_cast<std::size_t>(i));
      if (f < 0 || static_cast<std::size_t>(f) >= c.feature_vocab_sizes[k])
        apgen::detail::fail<invalid_token>("training forward: feature ", k, " at position ", i, " is ", f, ", outside its vocabulary");
      h.row(i) += w.feat_embed[k].row(f);
    }
  }
  const Scalar eps = static_cast<Scalar>(c.norm_eps), scale = Scalar(1) / std::sqrt(static_cast<Scalar>(dh));
  t.layers.resize(c.n_layers);
  for (std::size_t l = 0; l < c.n_layers; ++l) {
    const auto& W = w.layers[l];
    auto& T = t.layers[l];
    T.x = h;
    detail::ln_forward(h, W.norm1_w, W.norm1_b, eps, T.a, T.a_hat, T.rstd1);
    matrix qkv = T.a * W.qkv_w.transpose();
    qkv.rowwise() += W.qkv_b;
    T.q = qkv.leftCols(d);
    T.k = qkv.middleCols(d, d);
    T.v = qkv.rightCols(d);
    detail::rope_rows(T.q, H, dh, c.rope_base, false);
    detail::rope_rows(T.k, H, dh, c.rope_base, false);
    T.p.resize(H);
    T.att.resize(L, d);
    for (std::size_t j = 0; j < H; ++j) {
      const auto o = static_cast<Eigen::Index>(j * dh), n = static_cast<Eigen::Index>(dh);
      matrix s = (T.q.middleCols(o, n) * T.k.middleCols(o, n).transpose()) * scale;
      for (Eigen::Index i = 0; i < L; ++i) {
        const auto w = static_cast<Eigen::Index>(c.attention_window);
        for (Eigen::Index k = 0; k < L; ++k)
          if ((c.causal && k > i) || (w > 0 && (k < i - w || k > i + w))) s(i, k) = -std::numeric_limits<Scalar>::infinity();
        const Scalar m = s.row(i).maxCoeff();
        s.row(i) = (s.row(i).array() - m).exp().matrix();
        s.row(i) /= s.row(i).sum();
      }
      T.p[j] = s;
      T.att.middleCols(o, n) = s * T.v.middleCols(o, n);
    }
    h = h + T.att * W.out_w.transpose();
    h.rowwise() += W.out_b;
    T.h = h;
    detail::ln_forward(h, W.norm2_w, W.norm2_b, eps, T.m, T.m_hat, T.rstd2);
    T.up = T.m * W.up_w.transpose();
    T.up.rowwise() += W.up_b;
    if (c.act == activation::gelu) {
      T.act = T.up.unaryExpr([](Scalar x) { return detail::gelu(x); });
    } else {
      T.gate = T.m * W.gate_w.transpose();
      T.gate.rowwise() += W.gate_b;
      T.act = (T.gate.array() * T.gate.array().unaryExpr([](Scalar x) { return detail::sigmoid(x); }) * T.up.array()).matrix();
    }
    h = h + T.act * W.down_w.transpose();
    h.rowwise() += W.down_b;
  }
  t.h_final = h;
  detail::ln_forward(h, w.norm_w, w.norm_b, eps, t.z, t.z_hat, t.rstd_f);
  t.logits = t.z * w.head_w.transpose();
  t.logits.rowwise() += w.head_b;
  if (c.control_heads) {
    t.controls = t.z * w.ctl_w.transpose();
    t.controls.rowwise() += w.ctl_b;
  }
}

/// The loss of a forward pass (see the file comment) and its gradients with respect to the logits.
template <class Scalar>
row_loss row_loss_and_grad(const transformer_config& c, const row_tape<Scalar>& t, const row_targets& y, const loss_weights& lw,
                           basic_matrix<Scalar>& d_logits, basic_matrix<Scalar>& d_controls) {
  const auto L = t.logits.rows(), V = t.logits.cols();
  if (y.tokens.size() != static_cast<std::size_t>(L))
    apgen::detail::fail<shape_mismatch>("loss: ", y.tokens.size(), " token targets for ", L, " positions");
  row_loss out;
  d_logits.setZero(L, V);
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
      if (v != mask) m = std::max(m, t.logits(i, v));
    Scalar sum = 0;
    for (Eigen::Index v = 0; v < V; ++v)
      if (v != mask) sum += std::exp(t.logits(i, v) - m);
    const Scalar log_z = m + std::log(sum);
    out.token += static_cast<double>(log_z - t.logits(i, target));
    const Scalar g = static_cast<Scalar>(lw.token / static_cast<double>(out.token_positions));
    for (Eigen::Index v = 0; v < V; ++v)
      if (v != mask) d_logits(i, v) = g * std::exp(t.logits(i, v) - log_z);
    d_logits(i, target) -= g;
  }
  if (out.token_positions) out.token /= static_cast<double>(out.token_positions);
  d_controls.setZero(L, c.control_heads ? 3 : 0);
  const bool supervised_controls = !(y.remask.empty() && y.insert.empty() && y.erase.empty());
  if (c.control_heads && supervised_controls) {
    const std::span<const std::uint8_t> labels[3] = {y.remask, y.insert, y.erase};
    double* parts[3] = {&out.remask, &out.insert, &out.erase};
    for (std::size_t k = 0; k < 3; ++k) {
      if (labels[k].size() != static_cast<std::size_t>(L))
        apgen::detail::fail<shape_mismatch>("loss: ", labels[k].size(), " labels for control ", k, ", expected ", L);
      for (Eigen::Index i = 0; i < L; ++i) {
        const Scalar x = t.controls(i, static_cast<Eigen::Index>(k));
        const Scalar label = labels[k][static_cast<std::size_t>(i)] ? Scalar(1) : Scalar(0);
        // BCE with logits, stably: max(x, 0) - x * label + log(1 + exp(-|x|)).
        *parts[k] += static_cast<double>(std::max(x, Scalar(0)) - x * label + std::log1p(std::exp(-std::abs(x)))) / static_cast<double>(L);
        d_controls(i, static_cast<Eigen::Index>(k)) = static_cast<Scalar>(lw.control / static_cast<double>(L)) * (detail::sigmoid(x) - label);
      }
    }
  }
  out.total = lw.token * out.token + lw.control * (out.remask + out.insert + out.erase);
  return out;
}

/// Backward pass of one row: accumulates parameter gradients into `g` (same layout as the weights).
template <class Scalar>
void backward_row(const basic_transformer_weights<Scalar>& w, const row_tape<Scalar>& t, const basic_matrix<Scalar>& d_logits,
                  const basic_matrix<Scalar>& d_controls, basic_transformer_weights<Scalar>& g) {
  using matrix = basic_matrix<Scalar>;
  const auto& c = w.config;
  const auto L = t.logits.rows(), d = static_cast<Eigen::Index>(c.d_model);
  const std::size_t H = c.n_heads, hd = c.head_dim();
  const Scalar scale = Scalar(1) / std::sqrt(static_cast<Scalar>(hd));
  // Heads.
  g.head_w.noalias() += d_logits.transpose() * t.z;
  g.head_b += d_logits.colwise().sum();
  matrix dz = d_logits * w.head_w;
  if (c.control_heads) {
    g.ctl_w.noalias() += d_controls.transpose() * t.z;
    g.ctl_b += d_controls.colwise().sum();
    dz.noalias() += d_controls * w.ctl_w;
  }
  matrix dh = detail::ln_backward(dz, t.z_hat, t.rstd_f, w.norm_w, g.norm_w, g.norm_b);
  for (std::size_t l = c.n_layers; l-- > 0;) {
    const auto& W = w.layers[l];
    auto& G = g.layers[l];
    const auto& T = t.layers[l];
    // MLP: h_out = h + act W_down^T + b_down.
    G.down_w.noalias() += dh.transpose() * T.act;
    G.down_b += dh.colwise().sum();
    const matrix d_act = dh * W.down_w;
    matrix dm;
    if (c.act == activation::gelu) {
      const matrix d_up = (d_act.array() * T.up.unaryExpr([](Scalar x) { return detail::gelu_grad(x); }).array()).matrix();
      G.up_w.noalias() += d_up.transpose() * T.m;
      G.up_b += d_up.colwise().sum();
      dm = d_up * W.up_w;
    } else {
      const auto sig = T.gate.unaryExpr([](Scalar x) { return detail::sigmoid(x); }).array();
      const auto silu = (T.gate.array() * sig).eval();
      const matrix d_up = (d_act.array() * silu).matrix();
      const matrix d_gate = (d_act.array() * T.up.array() * sig * (Scalar(1) + T.gate.array() * (Scalar(1) - sig))).matrix();
      G.up_w.noalias() += d_up.transpose() * T.m;
      G.up_b += d_up.colwise().sum();
      G.gate_w.noalias() += d_gate.transpose() * T.m;
      G.gate_b += d_gate.colwise().sum();
      dm = d_up * W.up_w + d_gate * W.gate_w;
    }
    dh += detail::ln_backward(dm, T.m_hat, T.rstd2, W.norm2_w, G.norm2_w, G.norm2_b);
    // Attention: h = x + att W_out^T + b_out.
    G.out_w.noalias() += dh.transpose() * T.att;
    G.out_b += dh.colwise().sum();
    const matrix d_att = dh * W.out_w;
    matrix dq(L, d), dk(L, d), dv(L, d);
    for (std::size_t j = 0; j < H; ++j) {
      const auto o = static_cast<Eigen::Index>(j * hd), n = static_cast<Eigen::Index>(hd);
      const matrix& P = T.p[j];
      const matrix dO = d_att.middleCols(o, n);
      dv.middleCols(o, n) = P.transpose() * dO;
      const matrix dP = dO * T.v.middleCols(o, n).transpose();
      matrix dS = P;
      for (Eigen::Index i = 0; i < L; ++i) {
        const Scalar dot = (dP.row(i).array() * P.row(i).array()).sum();
        dS.row(i) = (P.row(i).array() * (dP.row(i).array() - dot)).matrix();
      }
      dq.middleCols(o, n) = dS * T.k.middleCols(o, n) * scale;
      dk.middleCols(o, n) = dS.transpose() * T.q.middleCols(o, n) * scale;
    }
    detail::rope_rows(dq, H, hd, c.rope_base, true);
    detail::rope_rows(dk, H, hd, c.rope_base, true);
    matrix dqkv(L, 3 * d);
    dqkv << dq, dk, dv;
    G.qkv_w.noalias() += dqkv.transpose() * T.a;
    G.qkv_b += dqkv.colwise().sum();
    const matrix da = dqkv * W.qkv_w;
    dh += detail::ln_backward(da, T.a_hat, T.rstd1, W.norm1_w, G.norm1_w, G.norm1_b);
  }
  for (Eigen::Index i = 0; i < L; ++i) {
    g.tok_embed.row(t.tokens[static_cast<std::size_t>(i)]) += dh.row(i);
    for (std::size_t k = 0; k < t.features.size(); ++k) g.feat_embed[k].row(t.features[k][static_cast<std::size_t>(i)]) += dh.row(i);
  }
}

} // namespace apgen::nn
