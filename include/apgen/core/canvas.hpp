#pragma once
/// \file
/// The generation state: a batch of B rows of different lengths (a ragged batch), each with its own capacity
/// (maximum context). Rows grow and shrink under insert and delete; positions are implicit (0 .. length-1) and
/// therefore recomputed at every step by whoever reads the row.

#include <apgen/config.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/vocabulary.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace apgen {

/// A ragged batch of token rows. Storage is one flat buffer with a fixed region of `capacity(r)` slots per row,
/// allocated once at construction, so steps never allocate. Each slot also carries a `locked` flag (a prompt
/// position that edits must not remask or delete); the flag travels with its token through every transition.
///
/// Invariants: 0 <= length(r) <= capacity(r); every stored token id is in [0, vocab_size()).
class canvas {
public:
  /// B empty rows of one capacity. Throws invalid_argument when rows or capacity is zero.
  canvas(const vocabulary& vocab, std::size_t rows, std::size_t capacity)
      : canvas(vocab, std::vector<std::size_t>(rows, capacity)) {}

  /// One empty row per entry of `capacities`. Throws invalid_argument on an empty batch or a zero capacity.
  canvas(const vocabulary& vocab, const std::vector<std::size_t>& capacities)
      : m_vocab_size(vocab.size()), m_mask(vocab.mask()), m_eos(vocab.eos().value_or(-1)) {
    if (capacities.empty()) detail::fail<invalid_argument>("canvas: a batch needs at least one row");
    m_offset.resize(capacities.size() + 1, 0);
    for (std::size_t r = 0; r < capacities.size(); ++r) {
      if (capacities[r] == 0)
        detail::fail<invalid_argument>("canvas: row ", r, " has capacity 0; a row needs at least one slot");
      m_offset[r + 1] = m_offset[r] + capacities[r];
    }
    m_length.assign(capacities.size(), 0);
    m_row_key.resize(capacities.size());
    for (std::size_t r = 0; r < m_row_key.size(); ++r) m_row_key[r] = r;
    m_tokens.assign(m_offset.back(), m_mask);
    m_locked.assign(m_offset.back(), 0);
    m_next_tokens.assign(m_offset.back(), m_mask);
    m_next_locked.assign(m_offset.back(), 0);
  }

  [[nodiscard]] std::size_t rows() const noexcept { return m_length.size(); }
  [[nodiscard]] std::size_t length(std::size_t r) const { return m_length[checked_row(r)]; }
  [[nodiscard]] std::size_t capacity(std::size_t r) const {
    checked_row(r);
    return m_offset[r + 1] - m_offset[r];
  }
  /// Largest capacity over all rows.
  [[nodiscard]] std::size_t max_capacity() const noexcept {
    std::size_t m = 0;
    for (std::size_t r = 0; r < rows(); ++r) m = std::max(m, m_offset[r + 1] - m_offset[r]);
    return m;
  }
  /// Sum of the current row lengths (the packed size of per-position score buffers).
  [[nodiscard]] std::size_t total_length() const noexcept {
    std::size_t n = 0;
    for (auto l : m_length) n += l;
    return n;
  }
  /// Sum of capacities (an upper bound of total_length at every step).
  [[nodiscard]] std::size_t total_capacity() const noexcept { return m_offset.back(); }

  [[nodiscard]] std::size_t vocab_size() const noexcept { return m_vocab_size; }
  [[nodiscard]] token_id mask() const noexcept { return m_mask; }
  /// The EOS id, or -1 when the vocabulary has none.
  [[nodiscard]] token_id eos() const noexcept { return m_eos; }

  /// The current tokens of row r (length(r) of them).
  [[nodiscard]] std::span<const token_id> row(std::size_t r) const {
    checked_row(r);
    return {m_tokens.data() + m_offset[r], m_length[r]};
  }
  /// The lock flags of row r, one per current position (1 = locked prompt position).
  [[nodiscard]] std::span<const std::uint8_t> locked(std::size_t r) const {
    checked_row(r);
    return {m_locked.data() + m_offset[r], m_length[r]};
  }
  /// Number of MASK tokens in row r.
  [[nodiscard]] std::size_t count_masks(std::size_t r) const {
    auto t = row(r);
    return static_cast<std::size_t>(std::count(t.begin(), t.end(), m_mask));
  }

  /// A stable key of the row for random streams: results for a row depend on its key, never on its index in the
  /// batch. Defaults to the row index.
  [[nodiscard]] std::uint64_t row_key(std::size_t r) const { return m_row_key[checked_row(r)]; }
  void set_row_key(std::size_t r, std::uint64_t key) { m_row_key[checked_row(r)] = key; }

  /// Replaces row r with `tokens`; the first `locked_prefix` positions are locked (a prompt that edits keep).
  /// Throws invalid_token for an id out of range and capacity_exceeded when the row does not fit.
  void assign(std::size_t r, std::span<const token_id> tokens, std::size_t locked_prefix = 0) {
    checked_row(r);
    const std::size_t cap = capacity(r);
    if (tokens.size() > cap)
      detail::fail<capacity_exceeded>("canvas: row ", r, " gets ", tokens.size(), " tokens but its capacity is ", cap);
    if (locked_prefix > tokens.size())
      detail::fail<invalid_argument>("canvas: locked prefix ", locked_prefix, " is longer than row ", r, " (",
                                     tokens.size(), " tokens)");
    for (std::size_t i = 0; i < tokens.size(); ++i) check_token(tokens[i], r, i);
    std::copy(tokens.begin(), tokens.end(), m_tokens.begin() + static_cast<std::ptrdiff_t>(m_offset[r]));
    for (std::size_t i = 0; i < tokens.size(); ++i) m_locked[m_offset[r] + i] = i < locked_prefix ? 1 : 0;
    m_length[r] = tokens.size();
  }
  void assign(std::size_t r, std::initializer_list<token_id> tokens, std::size_t locked_prefix = 0) {
    assign(r, std::span<const token_id>(tokens.begin(), tokens.size()), locked_prefix);
  }

  /// Sets row r to `prompt` (locked) followed by `masks` MASK tokens: the usual start of MDM/ARM decoding.
  void assign_prompt_and_masks(std::size_t r, std::span<const token_id> prompt, std::size_t masks) {
    std::vector<token_id> t(prompt.begin(), prompt.end());
    t.insert(t.end(), masks, m_mask);
    assign(r, t, prompt.size());
  }

  /// Locks or unlocks one position of row r.
  void set_locked(std::size_t r, std::size_t position, bool on) {
    if (position >= length(r))
      detail::fail<invalid_argument>("canvas: position ", position, " is past the end of row ", r, " (length ",
                                     length(r), ")");
    m_locked[m_offset[r] + position] = on ? 1 : 0;
  }

  // --- Low-level access for kernels (transition, backends). Kept public so a backend in another header can
  // --- implement them without friendship; ordinary users need none of these.

  /// Start of row r's region in the flat buffers.
  [[nodiscard]] std::size_t region_offset(std::size_t r) const noexcept { return m_offset[r]; }
  [[nodiscard]] token_id* tokens_data() noexcept { return m_tokens.data(); }
  [[nodiscard]] const token_id* tokens_data() const noexcept { return m_tokens.data(); }
  [[nodiscard]] std::uint8_t* locked_data() noexcept { return m_locked.data(); }
  [[nodiscard]] const std::uint8_t* locked_data() const noexcept { return m_locked.data(); }
  /// The second buffer pair a transition writes into before copying a changed row back; same layout as the first.
  [[nodiscard]] token_id* next_tokens_data() noexcept { return m_next_tokens.data(); }
  [[nodiscard]] std::uint8_t* next_locked_data() noexcept { return m_next_locked.data(); }
  /// Sets a row's length after a kernel rewrote its region (no checks beyond the capacity).
  void set_length_unchecked(std::size_t r, std::size_t n) noexcept { m_length[r] = n; }

  /// Fills `offsets` (size rows()+1) with the packed start of each row: offsets[r] = sum of lengths before r.
  void packed_offsets(std::span<std::size_t> offsets) const {
    if (offsets.size() != rows() + 1)
      detail::fail<shape_mismatch>("canvas: packed offsets need ", rows() + 1, " entries, got ", offsets.size());
    offsets[0] = 0;
    for (std::size_t r = 0; r < rows(); ++r) offsets[r + 1] = offsets[r] + m_length[r];
  }

private:
  std::size_t checked_row(std::size_t r) const {
    if (r >= m_length.size())
      detail::fail<invalid_argument>("canvas: row ", r, " is out of range (batch of ", m_length.size(), ")");
    return r;
  }
  void check_token(token_id t, std::size_t r, std::size_t i) const {
    if (t < 0 || static_cast<std::size_t>(t) >= m_vocab_size)
      detail::fail<invalid_token>("canvas: token id ", t, " at row ", r, ", position ", i, " is out of range [0, ",
                                  m_vocab_size, ")");
  }

  std::size_t m_vocab_size;
  token_id m_mask;
  token_id m_eos;
  std::vector<std::size_t> m_offset; // rows+1 prefix sums of capacities
  std::vector<std::size_t> m_length;
  std::vector<std::uint64_t> m_row_key;
  std::vector<token_id> m_tokens;
  std::vector<std::uint8_t> m_locked;
  std::vector<token_id> m_next_tokens;
  std::vector<std::uint8_t> m_next_locked;
};

/// Text of row r through `vocab` (see vocabulary::to_text).
[[nodiscard]] inline std::string to_text(const vocabulary& vocab, const canvas& c, std::size_t r,
                                         std::optional<std::string_view> separator = {}) {
  return vocab.to_text(c.row(r), separator);
}

/// Parses `text` with `vocab` into row r of `c` (the first `locked_prefix` tokens locked).
inline void assign_text(const vocabulary& vocab, canvas& c, std::size_t r, std::string_view text,
                        std::size_t locked_prefix = 0) {
  if (vocab.size() != c.vocab_size())
    detail::fail<shape_mismatch>("assign_text: vocabulary has ", vocab.size(), " tokens, canvas expects ",
                                 c.vocab_size());
  c.assign(r, vocab.from_text(text), locked_prefix);
}

} // namespace apgen
