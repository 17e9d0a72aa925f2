#pragma once
/// \file
/// Edit operations as tag types and `edit_set<Ops...>`: the compile-time set of operations a generator allows.
/// The transition clears every bit its edit set does not allow, so a schedule can never apply an edit the
/// generator type rules out (an MDM cannot delete, whatever its denoiser's control heads say).

#include <apgen/core/ops.hpp>

#include <cstdint>
#include <type_traits>

namespace apgen::edits {

/// MASK -> token.
struct unmask {
  static constexpr std::uint8_t bits = op_unmask;
  static constexpr bool end_only = false;
};
/// token -> MASK.
struct remask {
  static constexpr std::uint8_t bits = op_remask;
  static constexpr bool end_only = false;
};
/// Insert a MASK after any position.
struct insert {
  static constexpr std::uint8_t bits = op_insert;
  static constexpr bool end_only = false;
};
/// Insert a MASK after the last position only: autoregressive growth ("append").
struct append {
  static constexpr std::uint8_t bits = op_insert;
  static constexpr bool end_only = true;
};
/// Delete a MASK (the paper's delete; named erase because `delete` is a keyword).
struct erase {
  static constexpr std::uint8_t bits = op_erase;
  static constexpr bool end_only = false;
};

/// The runtime form of an edit set (core/ops.hpp).
using edit_mask = apgen::edit_mask;

/// A compile-time set of allowed edit operations. \tparam Ops some of unmask, remask, insert, append, erase.
template <class... Ops>
struct edit_set {
  static_assert(sizeof...(Ops) > 0, "edit_set needs at least one operation (unmask, remask, insert, append, erase)");
  static constexpr std::uint8_t allowed = static_cast<std::uint8_t>((Ops::bits | ...));
  static constexpr bool insert_at_end_only = (Ops::end_only || ...) && !((std::is_same_v<Ops, insert>) || ...);
  template <class Op>
  static constexpr bool allows = ((std::is_same_v<Op, Ops>) || ...);
  static constexpr edit_mask mask{allowed, insert_at_end_only};
};

/// Masked diffusion: unmask only.
using mdm = edit_set<unmask>;
/// Masked diffusion with remasking (low-confidence "polish" needs it).
using mdm_remask = edit_set<unmask, remask>;
/// Autoregressive growth: unmask, and a new MASK only after the last position.
using arm_append = edit_set<unmask, append>;
/// Any-process: every operation of the paper.
using any_process = edit_set<unmask, remask, insert, erase>;
static_assert(any_process::mask.allowed == all_edits.allowed && !any_process::mask.insert_at_end_only,
              "the transition's default edit mask is the any-process set");

} // namespace apgen::edits
