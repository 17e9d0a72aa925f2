#pragma once
/// \file
/// What a denoiser writes in one forward pass: per position, token scores (logits over the vocabulary) and the
/// three control scores (logits of remask, insert, delete). Rows are packed one after another by their current
/// lengths (the "varlen" layout: no padding, memory proportional to the tokens present).

#include <apgen/core/canvas.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/matrix_view.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace apgen {

/// Which heads a schedule reads or a denoiser provides.
struct head_set {
  bool tokens = true;    ///< B x L x V token logits
  bool controls = false; ///< B x L x 3 control logits: remask, insert, delete (a bit fires when sigmoid > threshold)

  [[nodiscard]] constexpr bool covers(const head_set& need) const noexcept {
    return (tokens || !need.tokens) && (controls || !need.controls);
  }
  constexpr head_set operator|(const head_set& o) const noexcept {
    return {tokens || o.tokens, controls || o.controls};
  }
};

namespace heads {
inline constexpr head_set tokens_only{true, false};
inline constexpr head_set controls_only{false, true};
inline constexpr head_set tokens_and_controls{true, true};
} // namespace heads

/// Index of each control score.
enum control_index : std::size_t { control_remask = 0, control_insert = 1, control_delete = 2, control_count = 3 };

/// Score buffers of one step, owned by the generator and reused across steps (they only grow).
class denoiser_output {
public:
  denoiser_output() = default;

  /// Shapes the buffers for the canvas's current lengths. Token logits are left as they are (a model overwrites
  /// them all; clearing L x V floats every step would cost as much as reading them); control logits are set to a
  /// large negative value, so no control fires unless the denoiser says so.
  void reshape(const canvas& c, head_set requested) {
    m_vocab = c.vocab_size();
    m_requested = requested;
    m_offsets.resize(c.rows() + 1);
    c.packed_offsets(m_offsets);
    const std::size_t n = m_offsets.back();
    m_tokens.resize(requested.tokens ? n * m_vocab : 0);
    m_controls.resize(requested.controls ? n * control_count : 0);
    std::fill(m_controls.begin(), m_controls.end(), -30.0f);
  }

  /// Reserves room for `positions` packed positions so that later reshapes up to that size never allocate.
  void reserve(std::size_t positions, std::size_t vocab, head_set requested) {
    m_offsets.reserve(64);
    if (requested.tokens) m_tokens.reserve(positions * vocab);
    if (requested.controls) m_controls.reserve(positions * control_count);
  }

  [[nodiscard]] std::size_t rows() const noexcept { return m_offsets.empty() ? 0 : m_offsets.size() - 1; }
  [[nodiscard]] std::size_t vocab_size() const noexcept { return m_vocab; }
  [[nodiscard]] head_set requested() const noexcept { return m_requested; }
  [[nodiscard]] std::size_t row_length(std::size_t r) const noexcept { return m_offsets[r + 1] - m_offsets[r]; }
  [[nodiscard]] std::size_t row_offset(std::size_t r) const noexcept { return m_offsets[r]; }
  [[nodiscard]] std::size_t total_positions() const noexcept { return m_offsets.empty() ? 0 : m_offsets.back(); }

  /// Row r's token logits: length(r) x V. Empty when the token head was not requested.
  [[nodiscard]] matrix_view<float> tokens(std::size_t r) noexcept {
    return m_tokens.empty() ? matrix_view<float>{}
                            : matrix_view<float>{m_tokens.data() + m_offsets[r] * m_vocab, row_length(r), m_vocab};
  }
  [[nodiscard]] matrix_view<const float> tokens(std::size_t r) const noexcept {
    return m_tokens.empty()
               ? matrix_view<const float>{}
               : matrix_view<const float>{m_tokens.data() + m_offsets[r] * m_vocab, row_length(r), m_vocab};
  }
  /// Row r's control logits: length(r) x 3 (remask, insert, delete). Empty when not requested.
  [[nodiscard]] matrix_view<float> controls(std::size_t r) noexcept {
    return m_controls.empty()
               ? matrix_view<float>{}
               : matrix_view<float>{m_controls.data() + m_offsets[r] * control_count, row_length(r), control_count};
  }
  [[nodiscard]] matrix_view<const float> controls(std::size_t r) const noexcept {
    return m_controls.empty() ? matrix_view<const float>{}
                              : matrix_view<const float>{m_controls.data() + m_offsets[r] * control_count,
                                                         row_length(r), control_count};
  }

  /// The whole packed token-logit buffer (total_positions x V), for denoisers that write all rows at once.
  [[nodiscard]] std::span<float> token_data() noexcept { return m_tokens; }
  [[nodiscard]] std::span<const float> token_data() const noexcept { return m_tokens; }
  [[nodiscard]] std::span<float> control_data() noexcept { return m_controls; }
  [[nodiscard]] std::span<const float> control_data() const noexcept { return m_controls; }

private:
  std::size_t m_vocab = 0;
  head_set m_requested{};
  std::vector<std::size_t> m_offsets;
  std::vector<float> m_tokens;
  std::vector<float> m_controls;
};

} // namespace apgen
