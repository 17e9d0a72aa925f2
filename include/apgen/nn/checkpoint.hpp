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
[[nodiscard]] inline transformer_weights load_transformer(const io::safetensors_file& file, std::string_view source,
                                                          std::string_view ignored_prefix = {}) {
  transformer_weights w(transformer_config::from_metadata(file.metadata()));
  std::set<std::string> expected;
  w.for_each_tensor([&](const std::string& name, auto& t, std::size_t rows, std::size_t cols, init_kind) {
    const auto& src = file.get(name, detail::stored_shape(rows, cols, name));
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
[[nodiscard]] inline transformer_weights load_transformer(const std::string& path, std::string_view ignored_prefix = {}) {
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
    out.views.emplace_back(std::string_view{}, detail::stored_shape(rows, cols, name), std::span<const float>(t.data(), static_cast<std::size_t>(t.size())));
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
