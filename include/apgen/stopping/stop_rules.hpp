#pragma once
/// \file
/// Stop rules, evaluated per row after every step. Each returns a reason code (`stop_reason::running` to go on);
/// `any_of<Rules...>` composes them, the first rule that fires names the reason.

#include <apgen/core/canvas.hpp>
#include <apgen/core/ops.hpp>
#include <apgen/core/step_context.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <tuple>

namespace apgen {

/// Why a row stopped.
enum class stop_reason : std::uint8_t {
  running = 0,
  no_mask_left, ///< every position is decoded
  fixed_point,  ///< a step changed nothing
  eos,          ///< an EOS token was produced
  step_limit,   ///< the step budget ran out
  length_limit, ///< the row reached its length limit
  capacity,     ///< the next step would have outgrown the row's capacity (overflow_policy::stop_row)
};

[[nodiscard]] constexpr std::string_view to_string(stop_reason r) noexcept {
  switch (r) {
  case stop_reason::running:
    return "running";
  case stop_reason::no_mask_left:
    return "no_mask_left";
  case stop_reason::fixed_point:
    return "fixed_point";
  case stop_reason::eos:
    return "eos";
  case stop_reason::step_limit:
    return "step_limit";
  case stop_reason::length_limit:
    return "length_limit";
  case stop_reason::capacity:
    return "capacity";
  }
  return "unknown";
}

/// What a stop rule sees of one row after a step.
struct row_status {
  std::size_t row = 0;
  std::uint32_t steps = 0; ///< steps taken by the row, this one included
  row_delta last;          ///< what the step just did to the row
};

namespace stopping {

/// Stops a row with no MASK left.
struct no_mask_left {
  [[nodiscard]] stop_reason check(const canvas& c, const row_status& s) const {
    return c.count_masks(s.row) == 0 ? stop_reason::no_mask_left : stop_reason::running;
  }
};

/// Stops a row when a step changed nothing.
struct fixed_point {
  [[nodiscard]] stop_reason check(const canvas&, const row_status& s) const noexcept {
    return s.last.changed() ? stop_reason::running : stop_reason::fixed_point;
  }
};

/// Stops a row when a step produced EOS.
struct eos_produced {
  [[nodiscard]] stop_reason check(const canvas&, const row_status& s) const noexcept {
    return s.last.eos_written ? stop_reason::eos : stop_reason::running;
  }
};

/// Stops a row once its length reaches `limit`.
struct max_length {
  std::size_t limit = 0;
  [[nodiscard]] stop_reason check(const canvas& c, const row_status& s) const {
    return c.length(s.row) >= limit ? stop_reason::length_limit : stop_reason::running;
  }
};

/// The first of several rules that fires. Rules are checked in order, so put the most informative first.
template <class... Rules>
struct any_of {
  std::tuple<Rules...> rules;

  constexpr any_of() = default;
  constexpr explicit any_of(Rules... r) : rules(std::move(r)...) {}

  [[nodiscard]] stop_reason check(const canvas& c, const row_status& s) const {
    stop_reason out = stop_reason::running;
    std::apply([&](const auto&... rule) { ((out == stop_reason::running ? (out = rule.check(c, s), 0) : 0), ...); },
               rules);
    return out;
  }
};

/// `stop_when(no_mask_left{}, max_length{100})`: builds any_of from rule values.
template <class... Rules>
[[nodiscard]] constexpr any_of<Rules...> stop_when(Rules... rules) {
  return any_of<Rules...>(std::move(rules)...);
}

/// The default for unmask-only decoding: stop when nothing is masked (or a step changes nothing, which guards
/// against a schedule that selects no position). The step budget is not a rule: generator_options::max_steps
/// bounds every generation, whatever the rules (reason step_limit).
using until_decoded = any_of<no_mask_left, fixed_point>;
/// The default for processes that edit (AP-MDM): stop at a fixed point (and at generator_options::max_steps).
using until_fixed_point = any_of<fixed_point>;

} // namespace stopping
} // namespace apgen
