#pragma once
/// \file
/// The configuration of the transformer denoiser, and its round trip through the string map stored in a
/// safetensors header's `__metadata__` (so a weight file says what model it holds).

#include <apgen/config.hpp>
#include <apgen/core/errors.hpp>

#include <charconv>
#include <cmath>
#include <cstddef>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace apgen::nn {

enum class activation { gelu, swiglu };

/// The most token (or feature) ids a vocabulary may have: ids are `token_id`s (int).
inline constexpr std::size_t max_token_count = static_cast<std::size_t>(std::numeric_limits<token_id>::max());

namespace detail {
/// A count written as decimal digits only, at most `max`; nullopt for anything else (empty, a sign, spaces, a
/// radix prefix, other characters, a value past `max` or past size_t).
[[nodiscard]] inline std::optional<std::size_t> parse_count(std::string_view s, std::size_t max) noexcept {
  if (s.empty()) return std::nullopt;
  for (const char ch : s)
    if (ch < '0' || ch > '9') return std::nullopt;
  std::size_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || v > max) return std::nullopt;
  return v;
}
} // namespace detail

/// Architecture of the transformer denoiser (see docs/transformer.md for the exact computation).
struct transformer_config {
  std::size_t vocab_size = 0;
  std::size_t d_model = 128;
  std::size_t n_layers = 4;
  std::size_t n_heads = 4;
  std::size_t d_ff = 512;
  /// Extra per-position feature embeddings, summed with the tokens. (The explicit {} lets a designated initializer
  /// skip the field without g++ -Wextra warning.)
  std::vector<std::size_t> feature_vocab_sizes{};
  activation act = activation::gelu;
  bool causal = false; ///< causal attention (ARM) instead of bidirectional (MDM, AP-MDM)
  /// Local attention: position i attends only to positions j with |i - j| <= attention_window (0: no limit). With
  /// n layers a position then sees at most n * window positions either side, so what a model learned on short
  /// rows applies unchanged to long ones (the length-generalisation bias of the parity experiment), and a step
  /// costs O(L * window) in attention instead of O(L^2).
  std::size_t attention_window = 0;
  bool control_heads = true; ///< the three control logits (remask, insert, delete)
  bool pin_decoded = true;   ///< SUBS: a decoded input position's logits are pinned to its token
  token_id mask_id = 0;      ///< the MASK id, whose logit is always suppressed
  /// Rotary positions on queries and keys. Off for a task whose feature embeddings carry all the structure (a
  /// Sudoku state's row, column and box): attention then depends on content and features alone, and the 1-D order
  /// of the slots means nothing.
  bool rope = true;
  double rope_base = 10000.0;
  float norm_eps = 1e-5f;

  [[nodiscard]] std::size_t head_dim() const noexcept { return n_heads ? d_model / n_heads : 0; }

  /// Throws invalid_argument naming the first inconsistent field.
  void validate() const {
    auto bad = [](auto... parts) { apgen::detail::fail<invalid_argument>("transformer config: ", parts...); };
    if (vocab_size == 0) bad("vocab_size must be positive");
    if (vocab_size > max_token_count)
      bad("vocab_size ", vocab_size, " is more than token ids (int) can number, ", max_token_count);
    if (d_model == 0 || n_layers == 0 || n_heads == 0 || d_ff == 0)
      bad("d_model, n_layers, n_heads and d_ff must be positive");
    if (d_model % n_heads) bad("d_model ", d_model, " is not a multiple of n_heads ", n_heads);
    if (head_dim() % 2) bad("head dimension ", head_dim(), " must be even for rotary embeddings");
    if (mask_id < 0 || static_cast<std::size_t>(mask_id) >= vocab_size)
      bad("mask_id ", mask_id, " is outside the vocabulary");
    for (auto f : feature_vocab_sizes) {
      if (f == 0) bad("a feature vocabulary size is zero");
      if (f > max_token_count) bad("feature vocabulary size ", f, " is more than feature ids (int) can number");
    }
    if (!(rope_base > 1)) bad("rope_base must be > 1");
    if (!(norm_eps > 0) || !std::isfinite(norm_eps)) bad("norm_eps must be finite and > 0");
    if (!std::isfinite(rope_base)) bad("rope_base must be finite");
  }

  /// The `__metadata__` form (all values are strings, as safetensors requires).
  [[nodiscard]] std::map<std::string, std::string> to_metadata() const {
    std::map<std::string, std::string> m;
    m["apgen.format"] = "transformer/1";
    m["vocab_size"] = std::to_string(vocab_size);
    m["d_model"] = std::to_string(d_model);
    m["n_layers"] = std::to_string(n_layers);
    m["n_heads"] = std::to_string(n_heads);
    m["d_ff"] = std::to_string(d_ff);
    std::string f;
    for (std::size_t i = 0; i < feature_vocab_sizes.size(); ++i)
      f += (i ? "," : "") + std::to_string(feature_vocab_sizes[i]);
    m["feature_vocab_sizes"] = f;
    m["activation"] = act == activation::gelu ? "gelu" : "swiglu";
    m["causal"] = causal ? "true" : "false";
    m["attention_window"] = std::to_string(attention_window);
    m["control_heads"] = control_heads ? "true" : "false";
    m["pin_decoded"] = pin_decoded ? "true" : "false";
    m["mask_id"] = std::to_string(mask_id);
    m["rope"] = rope ? "true" : "false";
    std::ostringstream rb, eps;
    rb.precision(17);
    eps.precision(9);
    rb << rope_base;
    eps << norm_eps;
    m["rope_base"] = rb.str();
    m["norm_eps"] = eps.str();
    return m;
  }

  /// Parses the `__metadata__` form; throws parse_error naming a missing or malformed key.
  [[nodiscard]] static transformer_config from_metadata(const std::map<std::string, std::string>& m) {
    auto get = [&](const char* key) -> const std::string& {
      auto it = m.find(key);
      if (it == m.end()) apgen::detail::fail<parse_error>("transformer metadata: missing key \"", key, "\"");
      return it->second;
    };
    // Numbers are read strictly: decimal digits only (no sign, no spaces, no "0x"), within the field's range,
    // and reals finite. A lenient reader turned "4294967296" into 0 and accepted "+6", " 6" and "inf".
    auto count = [&](const char* key, std::size_t max = std::numeric_limits<std::size_t>::max()) -> std::size_t {
      const std::string& s = get(key);
      const auto v = detail::parse_count(s, max);
      if (!v)
        apgen::detail::fail<parse_error>("transformer metadata: \"", key, "\" is not a count in [0, ", max, "]: \"", s,
                                         "\"");
      return *v;
    };
    auto flag = [&](const char* key) {
      const std::string& s = get(key);
      if (s != "true" && s != "false")
        apgen::detail::fail<parse_error>("transformer metadata: \"", key, "\" must be true or false, got \"", s, "\"");
      return s == "true";
    };
    auto real = [&](const char* key) {
      const std::string& s = get(key);
      double v = 0;
      const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (s.empty() || ec != std::errc{} || end != s.data() + s.size() || !std::isfinite(v))
        apgen::detail::fail<parse_error>("transformer metadata: \"", key, "\" is not a finite number: \"", s, "\"");
      return v;
    };
    if (get("apgen.format") != "transformer/1")
      apgen::detail::fail<parse_error>("transformer metadata: unknown format \"", get("apgen.format"),
                                       "\" (expected transformer/1)");
    transformer_config c;
    c.vocab_size = count("vocab_size", max_token_count);
    c.d_model = count("d_model");
    c.n_layers = count("n_layers");
    c.n_heads = count("n_heads");
    c.d_ff = count("d_ff");
    const std::string& f = get("feature_vocab_sizes");
    if (!f.empty()) // "" is no features; otherwise counts separated by single commas ("3," and "3,,4" are refused)
      for (std::size_t at = 0;;) {
        const auto comma = f.find(',', at);
        const auto v = detail::parse_count(f.substr(at, comma == std::string::npos ? std::string::npos : comma - at),
                                           max_token_count);
        if (!v)
          apgen::detail::fail<parse_error>("transformer metadata: bad feature_vocab_sizes \"", f,
                                           "\" (counts separated by commas)");
        c.feature_vocab_sizes.push_back(*v);
        if (comma == std::string::npos) break;
        at = comma + 1;
      }
    const std::string& a = get("activation");
    if (a != "gelu" && a != "swiglu")
      apgen::detail::fail<parse_error>("transformer metadata: unknown activation \"", a, "\"");
    c.act = a == "gelu" ? activation::gelu : activation::swiglu;
    c.causal = flag("causal");
    // Added after the first format revision: files written before it have no window (unlimited attention).
    if (m.count("attention_window")) c.attention_window = count("attention_window");
    c.control_heads = flag("control_heads");
    c.pin_decoded = flag("pin_decoded");
    c.mask_id = static_cast<token_id>(count("mask_id", max_token_count - 1));
    // Added after the first format revision: files written before it use rotary positions.
    if (m.count("rope")) c.rope = flag("rope");
    c.rope_base = real("rope_base");
    const double eps = real("norm_eps");
    if (std::abs(eps) > std::numeric_limits<float>::max()) // (converting it would be undefined)
      apgen::detail::fail<parse_error>("transformer metadata: \"norm_eps\" ", get("norm_eps"), " does not fit a float");
    c.norm_eps = static_cast<float>(eps);
    c.validate();
    return c;
  }
};

} // namespace apgen::nn
