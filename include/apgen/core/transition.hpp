#pragma once
/// \file
/// The AP-MDM transition (Algorithm 1 of Yang, Zhou, Wipf and Li, arXiv 2510.06190), applied to every row of a
/// batch in one left-to-right pass per row. For position i with token x_i, chosen token y_i and edit bits:
///   - x_i is MASK and delete is set: the position is dropped (its insert bit is ignored);
///   - else remask is set: it becomes MASK;
///   - else x_i is MASK and unmask is set: it becomes y_i;
///   - else it is kept;
///   - then, if insert is set, a new MASK goes right after it.
/// Delete on a decoded token does nothing. A row's new length is length + inserts - deleted masks.
/// The edit mask clears bits the generator type does not allow; locked (prompt) positions ignore remask/delete.

#include <apgen/backends/loops.hpp>
#include <apgen/core/canvas.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/ops.hpp>
#include <apgen/core/step_plan.hpp>
#include <apgen/core/trace.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace apgen {

/// Options of one transition.
struct transition_options {
  edit_mask edits = all_edits; ///< the generator passes its edit set's mask
  overflow_policy overflow = overflow_policy::throw_error;
  std::uint32_t step = 0; ///< recorded in traces
};

namespace detail {

/// Bits that act at position i once the edit mask and the lock are applied.
inline std::uint8_t effective_ops(std::uint8_t requested, bool locked, bool last, const edit_mask& mask) noexcept {
  std::uint8_t b = mask.filter(requested, last);
  if (locked) b &= static_cast<std::uint8_t>(~(op_remask | op_erase));
  return b;
}

/// What writing one row into the second buffer found.
struct row_outcome {
  row_delta delta;
  std::size_t length = 0;       ///< the new length (valid unless overflowed)
  std::size_t bad_position = 0; ///< first position whose chosen token is out of range
  bool bad_token = false;
};

/// One left-to-right pass over row r writing the new row into the canvas's second buffer. Nothing visible changes
/// yet: the caller copies rows back only once every row of the batch is known to be valid, so an overflow or a bad
/// token can still be reported with the canvas untouched.
template <class Recorder>
row_outcome write_row(canvas& c, const step_plan& plan, std::size_t r, const transition_options& opt, Recorder& rec,
                      std::uint8_t* applied) {
  const std::size_t n = c.length(r);
  const std::size_t cap = c.capacity(r);
  const std::size_t base = c.region_offset(r);
  const token_id* x = c.tokens_data() + base;
  const std::uint8_t* lock = c.locked_data() + base;
  token_id* out = c.next_tokens_data() + base;
  std::uint8_t* out_lock = c.next_locked_data() + base;
  const std::size_t p = plan.offsets[r];
  const std::uint8_t* req = plan.ops.data() + p;
  const token_id* y = plan.token.data() + p;
  const token_id m = c.mask();
  const token_id eos = c.eos();
  const auto vocab = static_cast<token_id>(c.vocab_size());
  [[maybe_unused]] const float* control = plan.control.empty() ? nullptr : plan.control.data() + 3 * p;
  [[maybe_unused]] const std::uint64_t key = c.row_key(r);

  row_outcome o;
  row_delta& d = o.delta;
  std::size_t w = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t b = effective_ops(req[i], lock[i] != 0, i + 1 == n, opt.edits);
    if (applied) applied[p + i] = b;
    const token_id old = x[i];
    [[maybe_unused]] auto emit = [&](std::uint8_t op, token_id from, token_id to, float score) {
      if constexpr (Recorder::enabled)
        rec.record(trace_record{opt.step, key, op, static_cast<std::uint32_t>(i), from, to, score});
    };
    [[maybe_unused]] auto control_prob = [&](int k) {
      return control ? control[3 * i + static_cast<std::size_t>(k)] : NAN;
    };
    const bool is_mask = old == m;
    if (is_mask && (b & op_erase)) {
      ++d.erased;
      emit(op_erase, old, old, control_prob(2));
      continue;
    }
    // Room for this token and, if inserting, the new MASK after it.
    const std::size_t need = 1 + ((b & op_insert) ? 1u : 0u);
    if (w + need > cap) {
      d.overflowed = true;
      return o;
    }
    token_id now = old;
    if (b & op_remask) {
      now = m;
      if (!is_mask) {
        ++d.remasked;
        emit(op_remask, old, m, control_prob(0));
      }
    } else if (is_mask && (b & op_unmask)) {
      now = y[i];
      if (now < 0 || now >= vocab) {
        o.bad_token = true;
        o.bad_position = i;
        return o;
      }
      if (now != m) {
        ++d.unmasked;
        d.eos_written = d.eos_written || now == eos;
        emit(op_unmask, old, now, plan.score[p + i]);
      }
    }
    out[w] = now;
    out_lock[w] = (now == old) ? lock[i] : 0;
    ++w;
    if (b & op_insert) {
      out[w] = m;
      out_lock[w] = 0;
      ++w;
      ++d.inserted;
      emit(op_insert, m, m, control_prob(1));
    }
  }
  o.length = w;
  // Unmasks and remasks alone always change a token in place; inserts and deletes can undo each other. Only then
  // is the new row compared with the old one.
  if ((d.inserted > 0 || d.erased > 0) && w == n && std::equal(out, out + n, x)) d.cancelled_out = true;
  return o;
}

/// Per-row outcomes of the calling thread's transitions, grown once (steps in steady state do not allocate).
inline std::vector<row_outcome>& outcome_scratch(std::size_t rows) {
  thread_local std::vector<row_outcome> scratch;
  if (scratch.size() < rows) scratch.resize(rows);
  return scratch;
}

/// Publishes row r's new contents from the second buffer.
inline void copy_back(canvas& c, std::size_t r, std::size_t length) {
  const std::size_t base = c.region_offset(r);
  std::copy(c.next_tokens_data() + base, c.next_tokens_data() + base + length, c.tokens_data() + base);
  std::copy(c.next_locked_data() + base, c.next_locked_data() + base + length, c.locked_data() + base);
  c.set_length_unchecked(r, length);
}

} // namespace detail

/// Applies one step's plan to every active row of `c` (rows whose `active` flag is 0 are left alone; an empty
/// `active` means all rows) and writes what happened to each row into `deltas` (size c.rows()).
///
/// Each row is written in one pass into the canvas's second buffer and published afterwards, so under
/// overflow_policy::throw_error a row that would outgrow its capacity throws capacity_exceeded (and an
/// out-of-range chosen token throws invalid_token) before any row changes; under stop_row that row is left
/// unchanged and its delta has `overflowed` set. Rows run in parallel on threaded backends; with an enabled
/// Recorder they run in order, so traces are in (row, position) order.
///
/// `applied`, when not empty (one entry per plan position), receives the bits that acted at each position: the
/// request filtered by the edit set and the lock (0 in inactive rows). Teachers take their labels from it.
/// \tparam Backend a backend tag; \tparam Recorder no_trace or a recorder with record(const trace_record&).
template <backends::backend Backend = backends::default_backend, class Recorder = no_trace>
void apply_transition(canvas& c, const step_plan& plan, std::span<row_delta> deltas, const transition_options& opt = {},
                      std::span<const std::uint8_t> active = {}, Recorder* recorder = nullptr,
                      std::span<std::uint8_t> applied = {}) {
  const std::size_t rows = c.rows();
  if (plan.rows() != rows)
    detail::fail<shape_mismatch>("transition: plan has ", plan.rows(), " rows, canvas has ", rows);
  if (deltas.size() != rows) detail::fail<shape_mismatch>("transition: ", deltas.size(), " deltas for ", rows, " rows");
  if (!active.empty() && active.size() != rows)
    detail::fail<shape_mismatch>("transition: ", active.size(), " active flags for ", rows, " rows");
  for (std::size_t r = 0; r < rows; ++r)
    if (plan.row_length(r) != c.length(r))
      detail::fail<shape_mismatch>("transition: plan row ", r, " has ", plan.row_length(r),
                                   " positions, canvas row has ", c.length(r));
  // The plan's buffers are read at every position of every active row: their sizes must match the offsets.
  const std::size_t positions = plan.offsets.empty() ? 0 : plan.offsets.back();
  if (!plan.offsets.empty() && plan.offsets.front() != 0)
    detail::fail<shape_mismatch>("transition: plan offsets start at ", plan.offsets.front(), ", not 0");
  const auto check_buffer = [&](const char* name, std::size_t size, std::size_t per_position) {
    if (size != per_position * positions)
      detail::fail<shape_mismatch>("transition: plan.", name, " has ", size, " entries, expected ",
                                   per_position * positions, " for ", positions, " positions");
  };
  check_buffer("ops", plan.ops.size(), 1);
  check_buffer("token", plan.token.size(), 1);
  check_buffer("score", plan.score.size(), 1);
  if (!plan.control.empty()) check_buffer("control", plan.control.size(), 3);
  if (!applied.empty() && applied.size() != positions)
    detail::fail<shape_mismatch>("transition: ", applied.size(), " applied-bit entries for ", positions, " positions");
  std::uint8_t* const applied_bits = applied.empty() ? nullptr : applied.data();

  auto is_active = [&](std::size_t r) { return active.empty() || active[r] != 0; };
  // Pass 1 writes every active row into the second buffer. A recorder needs row order, so it runs serially.
  auto& outcomes = detail::outcome_scratch(rows); // taken on the calling thread, shared with the workers
  auto write = [&](std::size_t r, auto& rec) {
    if (is_active(r)) {
      outcomes[r] = detail::write_row(c, plan, r, opt, rec, applied_bits);
    } else {
      outcomes[r] = detail::row_outcome{};
      if (applied_bits) std::fill(applied_bits + plan.offsets[r], applied_bits + plan.offsets[r + 1], std::uint8_t{0});
    }
  };
  bool traced = false;
  if constexpr (Recorder::enabled) {
    if (recorder) {
      // A row that overflows or meets a bad token is not applied, so its edits must not reach the trace: find
      // the outcome first, and record only rows that will be published.
      for (std::size_t r = 0; r < rows; ++r) {
        no_trace off;
        write(r, off);
        const auto& o = outcomes[r];
        if (is_active(r) && !o.bad_token && !o.delta.overflowed) write(r, *recorder);
      }
      traced = true;
    }
  }
  // About 2 ns a position to rewrite a row, and as much again to publish it.
  const double ns_per_row = rows ? 2.0 * static_cast<double>(positions) / static_cast<double>(rows) : 0.0;
  if (!traced)
    backends::for_each_index<Backend, backends::loop_balance::uneven>(
        rows,
        [&](std::size_t r) {
          no_trace off;
          write(r, off);
        },
        ns_per_row);
  // Nothing visible has changed yet: report a bad token or (under throw_error) an overflow now.
  for (std::size_t r = 0; r < rows; ++r)
    if (outcomes[r].bad_token)
      detail::fail<invalid_token>("transition: chosen token ", plan.token[plan.offsets[r] + outcomes[r].bad_position],
                                  " for row ", r, ", position ", outcomes[r].bad_position, " is out of range [0, ",
                                  c.vocab_size(), ")");
  if (opt.overflow == overflow_policy::throw_error)
    for (std::size_t r = 0; r < rows; ++r)
      if (outcomes[r].delta.overflowed)
        detail::fail<capacity_exceeded>("transition: row ", r, " (key ", c.row_key(r),
                                        ") would grow past its capacity ", c.capacity(r),
                                        "; raise the capacity or use overflow_policy::stop_row");
  // Pass 2 publishes the rows that changed.
  backends::for_each_index<Backend>(
      rows,
      [&](std::size_t r) {
        const auto& o = outcomes[r];
        if (o.delta.overflowed) {
          deltas[r] = row_delta{};
          deltas[r].overflowed = true;
          return;
        }
        deltas[r] = o.delta;
        if (o.delta.changed()) detail::copy_back(c, r, o.length);
      },
      ns_per_row);
}

} // namespace apgen
