#pragma once
/// \file
/// Which keys a query may attend to, the one definition the inference forward and the training pass share. A
/// bidirectional model sees every key of its row; a causal one the keys up to and including the query; a local
/// window of w (w > 0) keeps keys within w positions of the query, on top of either. The visible keys of a query
/// are always one run [lo, hi), and both ends only grow with the query, so a block of queries sees the run from
/// its first query's lo to its last query's hi.

#include <apgen/nn/config.hpp>

#include <algorithm>
#include <cstddef>

namespace apgen::nn {

/// The keys [lo, hi) a query may attend to.
struct key_range {
  std::ptrdiff_t lo = 0, hi = 0;
};

/// The visible keys of query i in a row of L positions under `c`'s causal flag and attention window.
[[nodiscard]] constexpr key_range visible_keys(const transformer_config& c, std::ptrdiff_t i,
                                               std::ptrdiff_t L) noexcept {
  const auto w = static_cast<std::ptrdiff_t>(c.attention_window);
  key_range r{0, c.causal ? i + 1 : L};
  if (w > 0) {
    r.lo = std::max<std::ptrdiff_t>(0, i - w);
    r.hi = std::min(r.hi, i + w + 1);
  }
  return r;
}

/// Whether some query of a row of L positions does not see every key (a mask must be applied).
[[nodiscard]] constexpr bool masks_keys(const transformer_config& c, std::ptrdiff_t L) noexcept {
  return c.causal || (c.attention_window > 0 && static_cast<std::ptrdiff_t>(c.attention_window) < L - 1);
}

} // namespace apgen::nn
