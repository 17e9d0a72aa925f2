#pragma once
/// \file
/// Transformer weights to and from safetensors: the configuration lives in `__metadata__`, each tensor under the
/// name weights.hpp gives it (vectors 1-D, matrices [rows, cols]). Loading checks every tensor's presence and
/// shape and refuses tensors the configuration does not expect, each with a message naming the tensor.

#include <apgen/core/errors.hpp>
#include <apgen/io/safetensors.hpp>
#include <apgen/nn/config.hpp>
#include <apgen/nn/weights.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace apgen::nn {

namespace detail {
inline std::vector<std::size_t> stored_shape(std::size_t rows, std::size_t cols, const std::string& name) {
  // Norm weights and biases are vectors; embeddings and linear weights are matrices, even with one row.
  const bool vector = rows == 1 && (name.ends_with(".bias") || name.find("norm") != std::string::npos);
  return vector ? std::vector<std::size_t>{cols} : std::vector<std::size_t>{rows, cols};
}
} // namespace detail

/// Builds a transformer from an open safetensors file. Tensors whose names start with `ignored_prefix` (for
/// example the optimiser state "adam." in a training checkpoint) are skipped; any other tensor the configuration
/// does not expect is refused. `source` names the file in messages.
/// Nothing is allocated from the metadata alone: the tensor count the configuration implies is checked against the
/// file first, and each tensor is sized only once the file has shown one of that name and shape, so a small file
/// whose metadata declares a huge model fails at once instead of asking for gigabytes.
[[nodiscard]] inline transformer_weights load_transformer(const io::safetensors_file& file, std::string_view source,
                                                          std::string_view ignored_prefix = {}) {
  const auto config = transformer_config::from_metadata(file.metadata());
  std::size_t present = 0;
  for (const auto& name : file.names()) present += ignored_prefix.empty() || !name.starts_with(ignored_prefix) ? 1 : 0;
  const std::size_t wanted = transformer_weights::tensor_count(config);
  if (wanted > present) {
    // Name a missing tensor: walk the names of the same model cut to one layer more than the file could hold.
    // Its names are the full model's, and more than the file has, so one of them is missing.
    auto probe = config;
    probe.n_layers = std::min(config.n_layers, present / 12 + 1);
    transformer_weights names(probe, transformer_weights::unallocated_t{});
    std::string missing;
    names.for_each_tensor([&](const std::string& name, auto&, std::size_t, std::size_t, init_kind) {
      if (missing.empty() && !file.contains(name)) missing = name;
    });
    apgen::detail::fail<shape_mismatch>(
        source, ": no tensor named \"", missing, "\"; the metadata describes a model of ", wanted,
        " tensors (n_layers = ", config.n_layers, ", ", config.feature_vocab_sizes.size(),
        " feature embeddings), the file holds ", present);
  }
  transformer_weights w(config, transformer_weights::unallocated_t{});
  std::set<std::string> expected;
  w.for_each_tensor([&](const std::string& name, auto& t, std::size_t rows, std::size_t cols, init_kind) {
    const auto& src = file.get(name, detail::stored_shape(rows, cols, name));
    t.resize(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
    std::copy(src.data.begin(), src.data.end(), t.data());
    expected.insert(name);
  });
  for (const auto& name : file.names())
    if (!expected.count(name) && (ignored_prefix.empty() || !name.starts_with(ignored_prefix)))
      apgen::detail::fail<shape_mismatch>(source, ": tensor \"", name, "\" is not part of this model's configuration");
  return w;
}

/// Reads a transformer written by save_transformer (or by tools/reference_transformer.py). F16 and BF16 tensors
/// are widened to F32.
[[nodiscard]] inline transformer_weights load_transformer(const std::string& path,
                                                          std::string_view ignored_prefix = {}) {
  return load_transformer(io::safetensors_file::read(path), path, ignored_prefix);
}

/// Views of every weight tensor under its stored name and shape, for writing (the names live in `names`).
struct weight_views {
  std::vector<std::string> names;
  std::vector<io::tensor_view> views;
};
[[nodiscard]] inline weight_views views_of(transformer_weights& w) {
  weight_views out;
  w.for_each_tensor([&](const std::string& name, auto& t, std::size_t rows, std::size_t cols, init_kind) {
    out.names.push_back(name);
    out.views.emplace_back(std::string_view{}, detail::stored_shape(rows, cols, name),
                           std::span<const float>(t.data(), static_cast<std::size_t>(t.size())));
  });
  for (std::size_t i = 0; i < out.views.size(); ++i) out.views[i].name = out.names[i]; // the names no longer move
  return out;
}

/// Writes the weights and their configuration (plus `extra` metadata) to `path`, as F32, F16 or BF16.
inline void save_transformer(const std::string& path, transformer_weights& w, io::dtype storage = io::dtype::f32,
                             const std::map<std::string, std::string>& extra = {}) {
  const auto v = views_of(w);
  auto meta = w.config.to_metadata();
  for (const auto& [k, val] : extra) meta.emplace(k, val);
  io::write_safetensors(path, std::span<const io::tensor_view>(v.views), meta, storage);
}

} // namespace apgen::nn
