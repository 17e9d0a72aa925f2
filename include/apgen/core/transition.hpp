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

#include <apgen/backends/parallel.hpp>
#include <apgen/core/canvas.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/ops.hpp>
#include <apgen/core/step_plan.hpp>
#include <apgen/core/trace.hpp>
#include <apgen/edits/edit_set.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

namespace apgen {

/// Options of one transition.
struct transition_options {
  edits::edit_mask edits = edits::any_process::mask;
  overflow_policy overflow = overflow_policy::throw_error;
  std::uint32_t step = 0; ///< recorded in traces
};

namespace detail {

/// Bits that act at position i once the edit mask and the lock are applied.
inline std::uint8_t effective_ops(std::uint8_t requested, bool locked, bool last, const edits::edit_mask& mask) noexcept {
  std::uint8_t b = mask.filter(requested, last);
  if (locked) b &= static_cast<std::uint8_t>(~(op_remask | op_erase));
  return b;
}

/// Length of row r after the transition (first pass: no writes, so an overflow or a bad token can be reported
/// before anything in the batch changes).
inline std::size_t next_length(const canvas& c, const step_plan& plan, std::size_t r, const edits::edit_mask& mask) {
  const std::size_t n = c.length(r);
  const token_id* x = c.tokens_data() + c.region_offset(r);
  const std::uint8_t* lock = c.locked_data() + c.region_offset(r);
  const std::uint8_t* req = plan.ops.data() + plan.offsets[r];
  const token_id* y = plan.token.data() + plan.offsets[r];
  const token_id m = c.mask();
  const auto vocab = static_cast<token_id>(c.vocab_size());
  std::size_t len = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t b = effective_ops(req[i], lock[i] != 0, i + 1 == n, mask);
    const bool dropped = x[i] == m && (b & op_erase);
    if (x[i] == m && !dropped && (b & (op_unmask | op_remask)) == op_unmask && (y[i] < 0 || y[i] >= vocab))
      detail::fail<invalid_token>("transition: chosen token ", y[i], " for row ", r, ", position ", i, " is out of range [0, ", vocab, ")");
    len += dropped ? 0 : 1 + ((b & op_insert) ? 1 : 0);
  }
  return len;
}

/// Second pass for one row: writes the new row into the canvas's next buffer, then copies it back.
template <class Recorder>
row_delta rewrite_row(canvas& c, const step_plan& plan, std::size_t r, const transition_options& opt, Recorder& rec) {
  const std::size_t n = c.length(r);
  const std::size_t base = c.region_offset(r);
  token_id* x = c.tokens_data() + base;
  std::uint8_t* lock = c.locked_data() + base;
  token_id* out = c.next_tokens_data() + base;
  std::uint8_t* out_lock = c.next_locked_data() + base;
  const std::size_t p = plan.offsets[r];
  const std::uint8_t* req = plan.ops.data() + p;
  const token_id* y = plan.token.data() + p;
  const token_id m = c.mask();
  const token_id eos = c.eos();
  [[maybe_unused]] const float* control = plan.control.empty() ? nullptr : plan.control.data() + 3 * p;
  [[maybe_unused]] const std::uint64_t key = c.row_key(r);

  row_delta d;
  std::size_t w = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t b = effective_ops(req[i], lock[i] != 0, i + 1 == n, opt.edits);
    const token_id old = x[i];
    [[maybe_unused]] auto emit = [&](std::uint8_t op, token_id from, token_id to, float score) {
      if constexpr (Recorder::enabled)
        rec.record(trace_record{opt.step, key, op, static_cast<std::uint32_t>(i), from, to, score});
    };
    [[maybe_unused]] auto control_prob = [&](int k) { return control ? control[3 * i + static_cast<std::size_t>(k)] : NAN; };
    if (old == m && (b & op_erase)) {
      ++d.erased;
      emit(op_erase, old, old, control_prob(2));
      continue;
    }
    token_id now = old;
    if (b & op_remask) {
      now = m;
      if (old != m) {
        ++d.remasked;
        emit(op_remask, old, m, control_prob(0));
      }
    } else if (old == m && (b & op_unmask)) {
      now = y[i];
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
  if (d.changed()) {
    std::copy(out, out + w, x);
    std::copy(out_lock, out_lock + w, lock);
    c.set_length_unchecked(r, w);
  }
  return d;
}

} // namespace detail

/// Applies one step's plan to every active row of `c` (rows whose `active` flag is 0, or all rows when `active`
/// is empty, are left alone) and writes what happened to each row into `deltas` (size c.rows()).
///
/// Under overflow_policy::throw_error a row that would outgrow its capacity throws capacity_exceeded before any
/// row changes; under stop_row that row is left unchanged and its delta has `overflowed` set.
/// Rows run in parallel on threaded backends; with an enabled Recorder they run in order, so traces are in
/// (row, position) order.
/// \tparam Backend a backend tag; \tparam Recorder no_trace or a recorder with record(const trace_record&).
template <class Backend = backends::default_backend, class Recorder = no_trace>
void apply_transition(canvas& c, const step_plan& plan, std::span<row_delta> deltas, const transition_options& opt = {},
                      std::span<const std::uint8_t> active = {}, Recorder* recorder = nullptr) {
  const std::size_t rows = c.rows();
  if (plan.rows() != rows)
    detail::fail<shape_mismatch>("transition: plan has ", plan.rows(), " rows, canvas has ", rows);
  if (deltas.size() != rows) detail::fail<shape_mismatch>("transition: ", deltas.size(), " deltas for ", rows, " rows");
  if (!active.empty() && active.size() != rows)
    detail::fail<shape_mismatch>("transition: ", active.size(), " active flags for ", rows, " rows");
  for (std::size_t r = 0; r < rows; ++r)
    if (plan.row_length(r) != c.length(r))
      detail::fail<shape_mismatch>("transition: plan row ", r, " has ", plan.row_length(r), " positions, canvas row has ", c.length(r));
  if (!plan.control.empty() && plan.control.size() != 3 * plan.offsets.back())
    detail::fail<shape_mismatch>("transition: plan has ", plan.control.size(), " control values, expected ", 3 * plan.offsets.back());

  auto is_active = [&](std::size_t r) { return active.empty() || active[r] != 0; };

  // Pass 1: lengths, so that overflow is decided before anything is written.
  backends::for_each_index<Backend>(rows, [&](std::size_t r) {
    deltas[r] = row_delta{};
    if (is_active(r)) deltas[r].overflowed = detail::next_length(c, plan, r, opt.edits) > c.capacity(r);
  });
  if (opt.overflow == overflow_policy::throw_error)
    for (std::size_t r = 0; r < rows; ++r)
      if (deltas[r].overflowed)
        detail::fail<capacity_exceeded>("transition: row ", r, " (key ", c.row_key(r), ") would grow to ",
                                        detail::next_length(c, plan, r, opt.edits), " positions, past its capacity ", c.capacity(r),
                                        "; raise the capacity or use overflow_policy::stop_row");

  // Pass 2: rewrite.
  auto body = [&](std::size_t r, auto& rec) {
    if (!is_active(r) || deltas[r].overflowed) return;
    deltas[r] = detail::rewrite_row(c, plan, r, opt, rec);
  };
  if constexpr (Recorder::enabled) {
    if (recorder) {
      for (std::size_t r = 0; r < rows; ++r) body(r, *recorder);
      return;
    }
  }
  backends::for_each_index<Backend, backends::loop_balance::uneven>(rows, [&](std::size_t r) {
    no_trace off;
    body(r, off);
  });
}

} // namespace apgen
