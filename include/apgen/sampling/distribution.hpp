#pragma once
/// \file
/// The tokens a choice may take (`token_filter`) and the one pass over a position's logits that every confidence
/// measure and token choice reads: the argmax, the two largest logits, and the softmax normaliser and entropy
/// sums. The pass itself is the backend's (backends/summarize.hpp).

#include <apgen/backends/distribution_summary.hpp>
#include <apgen/backends/summarize.hpp>
#include <apgen/config.hpp>

#include <array>
#include <cstddef>
#include <initializer_list>
#include <span>

namespace apgen::sampling {

/// Token ids a choice must never return (MASK always; PAD where the vocabulary has it). At most four, sorted.
class token_filter {
public:
  constexpr token_filter() noexcept = default;
  constexpr explicit token_filter(std::initializer_list<token_id> ids) noexcept {
    for (auto id : ids) add(id);
  }
  constexpr void add(token_id id) noexcept {
    if (id < 0 || m_count == m_ids.size() || excluded(id)) return;
    std::size_t at = m_count++;
    while (at > 0 && m_ids[at - 1] > id) {
      m_ids[at] = m_ids[at - 1];
      --at;
    }
    m_ids[at] = id;
  }
  [[nodiscard]] constexpr bool excluded(token_id id) const noexcept {
    for (std::size_t k = 0; k < m_count; ++k)
      if (m_ids[k] == id) return true;
    return false;
  }
  /// Calls f(begin, end) for each maximal range of allowed ids in [0, vocab).
  template <class F>
  constexpr void for_each_allowed_range(std::size_t vocab, F&& f) const {
    std::size_t begin = 0;
    for (std::size_t k = 0; k < m_count; ++k) {
      const auto id = static_cast<std::size_t>(m_ids[k]);
      if (id >= vocab) break;
      if (id > begin) f(begin, id);
      begin = id + 1;
    }
    if (begin < vocab) f(begin, vocab);
  }

private:
  std::array<token_id, 4> m_ids{};
  std::size_t m_count = 0;
};

/// Softmax statistics of one position's logits (backends/distribution_summary.hpp).
using distribution_summary = backends::distribution_summary;

/// Summary of one position's logits on a backend; every backend returns the same bits (backends/summarize.hpp).
template <class Backend>
[[nodiscard]] distribution_summary summarize(std::span<const float> z, const token_filter& f) {
  return backends::summarize<Backend>(z, f);
}

} // namespace apgen::sampling
