#pragma once
// A deliberately simple transcription of Algorithm 1 (one row, std::vector in, std::vector out) that the
// optimised batched transition is checked against. No edit masks, no locks, no capacity: just the rule.

#include <cstdint>
#include <vector>

namespace apgen::testing {

struct reference_bits {
  std::vector<int> remask, insert, erase;
};

inline std::vector<int> reference_transition(const std::vector<int>& x, const std::vector<int>& y,
                                             const reference_bits& bits, int mask,
                                             const std::vector<int>& unmask = {}) {
  std::vector<int> next;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const bool is_mask = x[i] == mask;
    if (is_mask && bits.erase[i]) continue; // a deleted MASK vanishes, insert and all
    if (bits.remask[i])
      next.push_back(mask);
    else if (is_mask && (unmask.empty() || unmask[i]))
      next.push_back(y[i]);
    else
      next.push_back(x[i]);
    if (bits.insert[i]) next.push_back(mask);
  }
  return next;
}

} // namespace apgen::testing
