#pragma once
/// \file
/// The vocabulary: token strings and the special ids (MASK always; PAD, BOS, EOS where a task uses them), with
/// conversions to and from text for examples, tests and traces.

#include <apgen/config.hpp>
#include <apgen/core/errors.hpp>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace apgen {

/// Names of the special tokens. An empty name means the vocabulary has no such token (MASK is required).
struct special_names {
  std::string mask = "[MASK]";
  std::string pad;
  std::string bos;
  std::string eos;
};

/// Token strings and special ids. Ids are dense: 0 .. size()-1. Immutable after construction, so one vocabulary is
/// safely shared by every thread and every generator.
class vocabulary {
public:
  /// Builds a vocabulary whose special tokens come first (in the order MASK, PAD, BOS, EOS, skipping absent ones)
  /// followed by `symbols`. Throws invalid_argument on an empty or duplicated token string.
  explicit vocabulary(const std::vector<std::string>& symbols, const special_names& specials = {}) {
    if (specials.mask.empty()) detail::fail<invalid_argument>("vocabulary: the MASK token needs a non-empty name");
    m_mask = add(specials.mask);
    if (!specials.pad.empty()) m_pad = add(specials.pad);
    if (!specials.bos.empty()) m_bos = add(specials.bos);
    if (!specials.eos.empty()) m_eos = add(specials.eos);
    const auto first_symbol = m_tokens.size();
    for (const auto& s : symbols) add(s);
    // Specials ("[MASK]") are long by nature; whether plain text needs separators depends only on the symbols.
    m_all_single_char = std::all_of(symbols.begin(), symbols.end(), [](const std::string& s) { return s.size() == 1; });
    if (m_tokens.size() == first_symbol)
      detail::fail<invalid_argument>("vocabulary: no symbols besides the special tokens (an empty vocabulary)");
  }

  /// Number of token ids, specials included.
  [[nodiscard]] std::size_t size() const noexcept { return m_tokens.size(); }
  [[nodiscard]] token_id mask() const noexcept { return m_mask; }
  [[nodiscard]] std::optional<token_id> pad() const noexcept { return m_pad; }
  [[nodiscard]] std::optional<token_id> bos() const noexcept { return m_bos; }
  [[nodiscard]] std::optional<token_id> eos() const noexcept { return m_eos; }

  /// BOS id; throws invalid_token naming the operation when the vocabulary has none.
  [[nodiscard]] token_id require_bos(std::string_view who) const { return require(m_bos, "BOS", who); }
  /// EOS id; throws invalid_token naming the operation when the vocabulary has none.
  [[nodiscard]] token_id require_eos(std::string_view who) const { return require(m_eos, "EOS", who); }

  /// True when `id` is a valid token id.
  [[nodiscard]] bool contains(token_id id) const noexcept {
    return id >= 0 && static_cast<std::size_t>(id) < m_tokens.size();
  }

  /// The string of a token; throws invalid_token for an out-of-range id.
  [[nodiscard]] const std::string& text(token_id id) const {
    check(id);
    return m_tokens[static_cast<std::size_t>(id)];
  }

  /// The id of a token string; throws invalid_token when the string is not in the vocabulary.
  [[nodiscard]] token_id id(std::string_view token) const {
    auto it = m_index.find(std::string(token));
    if (it == m_index.end()) detail::fail<invalid_token>("vocabulary: unknown token \"", token, "\"");
    return it->second;
  }

  /// Throws invalid_token when `id` is out of range; `where` names the caller in the message.
  void check(token_id id, std::string_view where = "vocabulary") const {
    if (!contains(id))
      detail::fail<invalid_token>(where, ": token id ", id, " is out of range [0, ", m_tokens.size(), ")");
  }

  /// Joins token strings. With the default separator, tokens are separated by a space unless every token string
  /// is a single character (then they are concatenated: "(()[])").
  [[nodiscard]] std::string to_text(std::span<const token_id> tokens,
                                    std::optional<std::string_view> separator = {}) const {
    const std::string_view sep =
        separator ? *separator : (m_all_single_char ? std::string_view{} : std::string_view{" "});
    std::string out;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      if (i) out += sep;
      out += text(tokens[i]);
    }
    return out;
  }

  /// Splits text into tokens by longest match at each point; white space between tokens is skipped unless it is
  /// itself a token. Throws parse_error naming the offset of the first character that starts no token.
  [[nodiscard]] std::vector<token_id> from_text(std::string_view text) const {
    std::vector<token_id> out;
    std::size_t at = 0;
    while (at < text.size()) {
      std::size_t best_len = 0;
      token_id best = -1;
      const std::size_t longest = std::min(m_longest, text.size() - at);
      for (std::size_t len = longest; len >= 1; --len) {
        auto it = m_index.find(std::string(text.substr(at, len)));
        if (it != m_index.end()) {
          best_len = len;
          best = it->second;
          break;
        }
      }
      if (best_len == 0) {
        if (std::isspace(static_cast<unsigned char>(text[at]))) {
          ++at;
          continue;
        }
        detail::fail<parse_error>("vocabulary: no token starts at offset ", at, " of \"", text, "\"");
      }
      out.push_back(best);
      at += best_len;
    }
    return out;
  }

  /// All token strings in id order.
  [[nodiscard]] const std::vector<std::string>& tokens() const noexcept { return m_tokens; }

private:
  token_id add(const std::string& s) {
    if (s.empty()) detail::fail<invalid_argument>("vocabulary: token ", m_tokens.size(), " has an empty string");
    if (m_index.count(s)) detail::fail<invalid_argument>("vocabulary: token \"", s, "\" appears twice");
    const auto id = static_cast<token_id>(m_tokens.size());
    m_tokens.push_back(s);
    m_index.emplace(s, id);
    m_longest = std::max(m_longest, s.size());
    return id;
  }
  [[nodiscard]] static token_id require(std::optional<token_id> id, std::string_view name, std::string_view who) {
    if (!id) detail::fail<invalid_token>(who, " needs a ", name, " token, and the vocabulary has none");
    return *id;
  }

  std::vector<std::string> m_tokens;
  std::unordered_map<std::string, token_id> m_index;
  token_id m_mask = 0;
  std::optional<token_id> m_pad, m_bos, m_eos;
  std::size_t m_longest = 0;
  bool m_all_single_char = true;
};

} // namespace apgen
