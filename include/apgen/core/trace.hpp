#pragma once
/// \file
/// Op-level trace of a generation: one record per applied edit (step, row, op, position, old -> new token,
/// score). Recording is a template policy of the transition: with `no_trace` every call compiles away, so a
/// generation without a trace pays nothing for the feature.

#include <apgen/config.hpp>
#include <apgen/core/ops.hpp>

#include <cmath>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace apgen {

/// One applied edit. `position` indexes the row before the step; for an insert it is the position the new MASK
/// follows. `score` is the confidence of an unmasked token or the control probability of an edit (NaN if none).
struct trace_record {
  std::uint32_t step = 0;
  std::uint64_t row = 0; ///< the row key (stable across batches)
  std::uint8_t op = op_none;
  std::uint32_t position = 0;
  token_id old_token = 0;
  token_id new_token = 0;
  float score = NAN;
};

/// The disabled recorder: every member is empty and constexpr-false, so traced code paths vanish.
struct no_trace {
  static constexpr bool enabled = false;
  constexpr void record(const trace_record&) noexcept {}
};

/// A recorder that keeps every record in memory, in step, row and position order.
class op_trace {
public:
  static constexpr bool enabled = true;
  void record(const trace_record& r) { m_records.push_back(r); }
  [[nodiscard]] const std::vector<trace_record>& records() const noexcept { return m_records; }
  void clear() noexcept { m_records.clear(); }

private:
  std::vector<trace_record> m_records;
};

} // namespace apgen
