#pragma once
/// \file
/// Two-sided Dyck-k: words over k bracket pairs that reduce to the empty word when any adjacent pair "x x^-1" or
/// "x^-1 x" cancels (the words equal to the identity in the free group on k generators). Both "()" and ")(" are
/// in the language.

#include <apgen/core/errors.hpp>
#include <apgen/core/vocabulary.hpp>

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace apgen::tasks::dyck {

inline constexpr std::size_t max_pairs = 4;

/// MASK, BOS, then for each pair i < k its opening and closing symbol: ( ) [ ] { } < >.
[[nodiscard]] inline vocabulary make_vocabulary(std::size_t k) {
  if (k == 0 || k > max_pairs)
    apgen::detail::fail<invalid_argument>("dyck: k must be in [1, ", max_pairs, "], got ", k);
  static constexpr const char* symbols[] = {"(", ")", "[", "]", "{", "}", "<", ">"};
  std::vector<std::string> s(symbols, symbols + 2 * k);
  return vocabulary(s, special_names{"[MASK]", "", "[BOS]", ""});
}

/// Id of the first bracket symbol in make_vocabulary(k) (after MASK and BOS).
inline constexpr token_id first_letter = 2;

/// The letter that cancels `letter` (same pair, other side).
[[nodiscard]] constexpr token_id inverse(token_id letter) noexcept {
  const token_id i = letter - first_letter;
  return first_letter + (i ^ 1);
}

/// True when `word` (letters only, no BOS or MASK) is a two-sided Dyck-k word.
[[nodiscard]] inline bool is_two_sided_dyck(std::span<const token_id> word, std::size_t k) {
  std::vector<token_id> stack;
  for (token_id t : word) {
    if (t < first_letter || t >= first_letter + static_cast<token_id>(2 * k)) return false;
    if (!stack.empty() && stack.back() == inverse(t))
      stack.pop_back();
    else
      stack.push_back(t);
  }
  return stack.empty();
}

} // namespace apgen::tasks::dyck
