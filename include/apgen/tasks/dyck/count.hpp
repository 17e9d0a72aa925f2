#pragma once
/// \file
/// How many two-sided Dyck-k words there are of each length, and all of them for short lengths: the yardstick for
/// a generator's coverage. A word is in the language exactly when its free reduction (the stack of
/// tasks::dyck::is_two_sided_dyck) ends empty, and the stack's depth moves like a walk on the 2k-regular tree: from
/// depth 0 every one of the 2k letters goes one deeper, from depth d > 0 one letter (the inverse of the top) goes
/// back and the other 2k - 1 go deeper. Counting walks back to depth 0 is a dynamic programme over the depth.

#include <apgen/core/errors.hpp>
#include <apgen/core/vocabulary.hpp>
#include <apgen/tasks/dyck/task.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace apgen::tasks::dyck {

/// The number of two-sided Dyck-k words with `length` letters (0 for odd lengths, 1 for the empty word). Exact;
/// throws invalid_argument when the count does not fit in 64 bits (k = 1 from length 68 on, k = 2 from 40, k = 3 from
/// 34).
[[nodiscard]] inline std::uint64_t count_words(std::size_t k, std::size_t length) {
  if (k == 0 || k > max_pairs)
    apgen::detail::fail<invalid_argument>("dyck count: k must be in [1, ", max_pairs, "], got ", k);
  if (length % 2) return 0;
  constexpr std::uint64_t limit = std::numeric_limits<std::uint64_t>::max();
  auto overflow = [&] {
    apgen::detail::fail<invalid_argument>("dyck count: the number of Dyck-", k, " words of length ", length,
                                          " does not fit in 64 bits");
  };
  // A walk that reaches a depth can still get back, so no partial count exceeds the final one: the first partial
  // count that overflows means the answer does.
  auto add = [&](std::uint64_t& into, std::uint64_t ways_in, std::uint64_t times) {
    if (ways_in > limit / times) overflow();
    const std::uint64_t more = ways_in * times;
    if (into > limit - more) overflow();
    into += more;
  };
  const std::uint64_t letters = 2 * k;
  // Only depths from which the walk can still get back matter: depth <= the steps left.
  std::vector<std::uint64_t> ways(length / 2 + 2, 0), next(ways.size(), 0);
  ways[0] = 1;
  for (std::size_t step = 0; step < length; ++step) {
    std::fill(next.begin(), next.end(), std::uint64_t{0});
    const std::size_t left = length - step - 1;
    for (std::size_t d = 0; d < ways.size(); ++d) {
      if (!ways[d]) continue;
      if (d + 1 <= std::min(left, ways.size() - 1)) add(next[d + 1], ways[d], d == 0 ? letters : letters - 1);
      if (d > 0) add(next[d - 1], ways[d], 1);
    }
    ways.swap(next);
  }
  return ways[0];
}

/// Every two-sided Dyck-k word with `length` letters, in lexicographic order of token ids. Refuses lengths whose
/// count is above `limit` (a list of millions of words is not what a caller wants by accident).
[[nodiscard]] inline std::vector<std::vector<token_id>> all_words(std::size_t k, std::size_t length,
                                                                  std::uint64_t limit = 1'000'000) {
  const std::uint64_t n = count_words(k, length);
  if (n > limit)
    apgen::detail::fail<invalid_argument>("dyck all_words: ", n, " words of length ", length, " for k = ", k,
                                          ", more than the limit ", limit);
  std::vector<std::vector<token_id>> out;
  out.reserve(static_cast<std::size_t>(n));
  if (length % 2) return out;
  // Depth-first over letters, pruned where the stack is deeper than the letters left can cancel.
  std::vector<token_id> word, stack;
  const auto letters = static_cast<token_id>(2 * k);
  auto extend = [&](auto&& self) -> void {
    if (word.size() == length) {
      if (stack.empty()) out.push_back(word);
      return;
    }
    for (token_id x = first_letter; x < first_letter + letters; ++x) {
      const bool cancels = !stack.empty() && stack.back() == inverse(x);
      if (!cancels && stack.size() + 1 > length - word.size() - 1) continue;
      word.push_back(x);
      if (cancels)
        stack.pop_back();
      else
        stack.push_back(x);
      self(self);
      if (cancels)
        stack.push_back(inverse(x));
      else
        stack.pop_back();
      word.pop_back();
    }
  };
  extend(extend);
  return out;
}

} // namespace apgen::tasks::dyck
