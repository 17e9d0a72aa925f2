#pragma once
/// \file
/// The per-position edit bits a schedule hands to the transition, and the summaries a transition returns.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace apgen {

/// One byte per position: which edits act on it this step. Unmask is explicit (rather than "every MASK") so that
/// MDM-style schedules can leave some masks for later; AP-MDM's control-driven schedule sets it on every MASK.
enum op_bits : std::uint8_t {
  op_none = 0,
  op_unmask = 1u << 0, ///< a MASK here becomes the chosen token y_i
  op_remask = 1u << 1, ///< the token here becomes MASK (a MASK stays MASK)
  op_insert = 1u << 2, ///< a new MASK goes right after this position
  op_erase = 1u << 3,  ///< a MASK here is deleted (the paper's delete; a no-op on a decoded token)
};

/// Names of single ops for traces and messages.
[[nodiscard]] constexpr std::string_view op_name(std::uint8_t op) noexcept {
  switch (op) {
  case op_unmask:
    return "unmask";
  case op_remask:
    return "remask";
  case op_insert:
    return "insert";
  case op_erase:
    return "delete";
  default:
    return "none";
  }
}

/// What happened to one row in one transition.
struct row_delta {
  std::uint32_t unmasked = 0; ///< MASK -> token
  std::uint32_t remasked = 0; ///< decoded token -> MASK (remask of a MASK is not counted: nothing changes)
  std::uint32_t inserted = 0; ///< new MASKs
  std::uint32_t erased = 0;   ///< deleted MASKs
  bool eos_written = false;   ///< a MASK became EOS
  bool overflowed = false;    ///< the row would have outgrown its capacity and was left unchanged
  /// Edits were applied but the row came out as it went in (an insert after a token and a delete of the MASK
  /// that follows it, say): the counts above say what was done, changed() that nothing changed.
  bool cancelled_out = false;

  /// True when the row's token sequence differs from before the step.
  [[nodiscard]] constexpr bool changed() const noexcept {
    return !cancelled_out && unmasked + remasked + inserted + erased > 0;
  }
  constexpr row_delta& operator+=(const row_delta& o) noexcept {
    unmasked += o.unmasked;
    remasked += o.remasked;
    inserted += o.inserted;
    erased += o.erased;
    eos_written = eos_written || o.eos_written;
    overflowed = overflowed || o.overflowed;
    cancelled_out = cancelled_out && o.cancelled_out; // a sum's changed() is false only if no step changed the row
    return *this;
  }
};

/// What a transition does with a row that would outgrow its capacity.
enum class overflow_policy {
  throw_error, ///< throw capacity_exceeded naming the row, before any row of the batch is changed (default)
  stop_row,    ///< leave the row as it was and report it overflowed; the generator stops it with reason capacity
};

/// The runtime form of an edit set (edits::edit_set<...>::mask), as the transition consumes it: the op bits a
/// generator allows, and whether insert acts only after a row's last position (autoregressive growth). It stands
/// here, on the ground floor, so that the transition needs nothing from edits/.
struct edit_mask {
  std::uint8_t allowed = op_unmask;
  bool insert_at_end_only = false;

  /// Applies the mask to one position's requested bits (`last` = the row's final position).
  [[nodiscard]] constexpr std::uint8_t filter(std::uint8_t requested, bool last) const noexcept {
    std::uint8_t b = requested & allowed;
    if (insert_at_end_only && !last) b &= static_cast<std::uint8_t>(~op_insert);
    return b;
  }
};

/// Every operation allowed (the any-process edit set).
inline constexpr edit_mask all_edits{static_cast<std::uint8_t>(op_unmask | op_remask | op_insert | op_erase), false};

} // namespace apgen
