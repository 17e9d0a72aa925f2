#pragma once
/// \file
/// The transformer's parameters and their names. `for_each_tensor` is the single place that names each tensor
/// and gives its shape; loading, saving and initialisation all walk it, so the naming scheme cannot drift.
/// Linear weights are stored as PyTorch stores them: [out_features, in_features], row-major.
///
///   embed.tokens.weight            [V, d]
///   embed.features.{k}.weight      [F_k, d]
///   layers.{i}.norm1.{weight,bias} [d]
///   layers.{i}.attn.qkv.weight     [3d, d]   rows: q (heads in order), then k, then v
///   layers.{i}.attn.qkv.bias       [3d]
///   layers.{i}.attn.out.{weight,bias} [d, d], [d]
///   layers.{i}.norm2.{weight,bias} [d]
///   layers.{i}.mlp.up.{weight,bias}   [ff, d], [ff]
///   layers.{i}.mlp.gate.{weight,bias} [ff, d], [ff]   (SwiGLU only)
///   layers.{i}.mlp.down.{weight,bias} [d, ff], [d]
///   norm.{weight,bias}             [d]
///   head.tokens.{weight,bias}      [V, d], [V]
///   head.controls.{weight,bias}    [3, d], [3]       (when control_heads)

#include <apgen/core/rng.hpp>
#include <apgen/interop/eigen.hpp>
#include <apgen/nn/config.hpp>

#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

namespace apgen::nn {

template <class Scalar>
using basic_matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class Scalar>
using basic_row_vector = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>;
using matrix = basic_matrix<float>;
using row_vector = basic_row_vector<float>;

/// One block's parameters. \tparam Scalar float for inference and training, double for gradient checks.
template <class Scalar>
struct basic_layer_weights {
  using matrix = basic_matrix<Scalar>;
  using row_vector = basic_row_vector<Scalar>;
  row_vector norm1_w, norm1_b;
  matrix qkv_w;
  row_vector qkv_b;
  matrix out_w;
  row_vector out_b;
  row_vector norm2_w, norm2_b;
  matrix up_w;
  row_vector up_b;
  matrix gate_w; ///< empty unless SwiGLU
  row_vector gate_b;
  matrix down_w;
  row_vector down_b;
};
using layer_weights = basic_layer_weights<float>;

/// How a tensor is initialised by `random`.
enum class init_kind { normal, ones, zeros, control_bias };

/// Every parameter of the transformer (also used, with the same shapes, for gradients and optimiser moments).
/// \tparam Scalar float for inference and training, double for gradient checks.
template <class Scalar>
struct basic_transformer_weights {
  using matrix = basic_matrix<Scalar>;
  using row_vector = basic_row_vector<Scalar>;
  transformer_config config;
  matrix tok_embed;
  std::vector<matrix> feat_embed;
  std::vector<basic_layer_weights<Scalar>> layers;
  row_vector norm_w, norm_b;
  matrix head_w;
  row_vector head_b;
  matrix ctl_w; ///< empty without control heads
  row_vector ctl_b;

  /// Allocates every tensor at its shape (values unspecified).
  explicit basic_transformer_weights(const transformer_config& c) : config(c) {
    config.validate();
    for_each_tensor([](const std::string&, auto& t, std::size_t rows, std::size_t cols, init_kind) {
      t.resize(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
    });
  }

  struct unallocated_t {};
  /// Every tensor empty, for a loader that sizes each one only after checking it against its source.
  basic_transformer_weights(const transformer_config& c, unallocated_t) : config(c) { config.validate(); }

  /// How many tensors a configuration has (what for_each_tensor visits), computed without visiting them, and
  /// without overflowing: a count past size_t comes back as its maximum.
  [[nodiscard]] static std::size_t tensor_count(const transformer_config& c) noexcept {
    const std::size_t per_layer = c.act == activation::swiglu ? 14 : 12, fixed = 5 + (c.control_heads ? 2 : 0);
    const std::size_t limit = std::numeric_limits<std::size_t>::max();
    if (c.n_layers > (limit - fixed - c.feature_vocab_sizes.size()) / per_layer) return limit;
    return fixed + c.feature_vocab_sizes.size() + c.n_layers * per_layer;
  }

  /// Calls f(name, tensor, rows, cols, init) for every tensor, in a fixed order. Vectors have rows == 1.
  template <class F>
  void for_each_tensor(F&& f) {
    const std::size_t d = config.d_model, ff = config.d_ff, V = config.vocab_size;
    f("embed.tokens.weight", tok_embed, V, d, init_kind::normal);
    feat_embed.resize(config.feature_vocab_sizes.size());
    for (std::size_t k = 0; k < feat_embed.size(); ++k)
      f("embed.features." + std::to_string(k) + ".weight", feat_embed[k], config.feature_vocab_sizes[k], d,
        init_kind::normal);
    layers.resize(config.n_layers);
    for (std::size_t i = 0; i < layers.size(); ++i) {
      auto& L = layers[i];
      const std::string p = "layers." + std::to_string(i) + ".";
      f(p + "norm1.weight", L.norm1_w, 1, d, init_kind::ones);
      f(p + "norm1.bias", L.norm1_b, 1, d, init_kind::zeros);
      f(p + "attn.qkv.weight", L.qkv_w, 3 * d, d, init_kind::normal);
      f(p + "attn.qkv.bias", L.qkv_b, 1, 3 * d, init_kind::zeros);
      f(p + "attn.out.weight", L.out_w, d, d, init_kind::normal);
      f(p + "attn.out.bias", L.out_b, 1, d, init_kind::zeros);
      f(p + "norm2.weight", L.norm2_w, 1, d, init_kind::ones);
      f(p + "norm2.bias", L.norm2_b, 1, d, init_kind::zeros);
      f(p + "mlp.up.weight", L.up_w, ff, d, init_kind::normal);
      f(p + "mlp.up.bias", L.up_b, 1, ff, init_kind::zeros);
      if (config.act == activation::swiglu) {
        f(p + "mlp.gate.weight", L.gate_w, ff, d, init_kind::normal);
        f(p + "mlp.gate.bias", L.gate_b, 1, ff, init_kind::zeros);
      }
      f(p + "mlp.down.weight", L.down_w, d, ff, init_kind::normal);
      f(p + "mlp.down.bias", L.down_b, 1, d, init_kind::zeros);
    }
    f("norm.weight", norm_w, 1, d, init_kind::ones);
    f("norm.bias", norm_b, 1, d, init_kind::zeros);
    f("head.tokens.weight", head_w, V, d, init_kind::normal);
    f("head.tokens.bias", head_b, 1, V, init_kind::zeros);
    if (config.control_heads) {
      f("head.controls.weight", ctl_w, 3, d, init_kind::normal);
      f("head.controls.bias", ctl_b, 1, 3, init_kind::control_bias);
    }
  }

  /// Parameter count. (for_each_tensor hands out mutable tensors; counting only reads their sizes.)
  [[nodiscard]] std::size_t parameter_count() const {
    std::size_t n = 0;
    const_cast<basic_transformer_weights&>(*this).for_each_tensor(
        [&](const std::string&, auto& t, std::size_t, std::size_t, init_kind) {
          n += static_cast<std::size_t>(t.size());
        });
    return n;
  }

  /// Seeded initialisation: normal(0, std) for matrices (std = 0.02, and 0.02 / sqrt(2 n_layers) for the
  /// projections that write into the residual stream), ones/zeros for norms and biases, and -2 for the control
  /// biases so that a fresh model's controls do not fire (sigmoid(-2) = 0.12).
  /// The same weights in another scalar type (for gradient checks in double).
  template <class Other>
  [[nodiscard]] basic_transformer_weights<Other> cast() {
    basic_transformer_weights<Other> out(config);
    std::vector<const Scalar*> sources;
    for_each_tensor(
        [&](const std::string&, auto& t, std::size_t, std::size_t, init_kind) { sources.push_back(t.data()); });
    std::size_t i = 0;
    out.for_each_tensor([&](const std::string&, auto& t, std::size_t, std::size_t, init_kind) {
      for (Eigen::Index k = 0; k < t.size(); ++k) t.data()[k] = static_cast<Other>(sources[i][k]);
      ++i;
    });
    return out;
  }

  /// Sets every element to zero (gradient buffers).
  void set_zero() {
    for_each_tensor([](const std::string&, auto& t, std::size_t, std::size_t, init_kind) { t.setZero(); });
  }

  [[nodiscard]] static basic_transformer_weights random(const transformer_config& c, std::uint64_t seed,
                                                        float std_dev = 0.02f) {
    basic_transformer_weights w(c);
    const counter_rng rng(seed, rng_stream::user);
    std::uint32_t tensor_index = 0;
    w.for_each_tensor([&](const std::string& name, auto& t, std::size_t, std::size_t, init_kind k) {
      const bool residual =
          name.find("attn.out.weight") != std::string::npos || name.find("mlp.down.weight") != std::string::npos;
      const float s = residual ? std_dev / std::sqrt(2.0f * static_cast<float>(c.n_layers)) : std_dev;
      for (Eigen::Index i = 0; i < t.size(); ++i) {
        float v = 0;
        switch (k) {
        case init_kind::normal: {
          // Box-Muller on two keyed uniforms.
          const auto u = rng.uniform2(tensor_index, static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(i >> 32));
          v = s * static_cast<float>(std::sqrt(-2.0 * std::log(u[0])) * std::cos(6.283185307179586 * u[1]));
          break;
        }
        case init_kind::ones:
          v = 1;
          break;
        case init_kind::zeros:
          v = 0;
          break;
        case init_kind::control_bias:
          v = -2;
          break;
        }
        t.data()[i] = static_cast<Scalar>(v);
      }
      ++tensor_index;
    });
    return w;
  }
};

using transformer_weights = basic_transformer_weights<float>;

} // namespace apgen::nn
