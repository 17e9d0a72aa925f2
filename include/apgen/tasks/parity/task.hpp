#pragma once
/// \file
/// The parity task: input [BOS] b1 .. bn over bits {0, 1}; the answer is [BOS] when the number of ones is even and
/// [BOS] 1 when it is odd.

#include <apgen/core/vocabulary.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace apgen::tasks::parity {

/// MASK, BOS, "0", "1" (ids 0, 1, 2, 3).
[[nodiscard]] inline vocabulary make_vocabulary() {
  return vocabulary({"0", "1"}, special_names{"[MASK]", "", "[BOS]", ""});
}

/// [BOS] followed by the bits.
[[nodiscard]] inline std::vector<token_id> encode(const vocabulary& v, const std::vector<int>& bits) {
  std::vector<token_id> t{v.require_bos("parity")};
  const token_id zero = v.id("0"), one = v.id("1");
  for (int b : bits) t.push_back(b ? one : zero);
  return t;
}

/// The expected final row for `bits`.
[[nodiscard]] inline std::vector<token_id> answer(const vocabulary& v, const std::vector<int>& bits) {
  int ones = 0;
  for (int b : bits) ones += b ? 1 : 0;
  std::vector<token_id> t{v.require_bos("parity")};
  if (ones % 2) t.push_back(v.id("1"));
  return t;
}

} // namespace apgen::tasks::parity
