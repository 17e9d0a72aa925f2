#pragma once
/// \file
/// Teachers: run a generator (usually an exact oracle) with a process_trace (engine/process_trace.hpp) and turn
/// every step of every row of the trace into a transition_record, the training data of the paper's experiments.
/// `record_trajectories` works with any generator; each task's folder has the teacher that drives its oracle
/// (tasks/parity/teacher.hpp, tasks/dyck/teacher.hpp).
///
/// Labels are stored as *effective* labels (train::effective_labels), not as the bits the schedule requested: the
/// generator's edit set and the canvas's locked positions filter the request first, exactly as the transition
/// does, and labels that do nothing are cleared (delete on a decoded token, insert or remask on a deleted MASK,
/// targets of positions that are not unmasked). Equal transitions therefore get equal labels, a record replays to
/// its next state without knowing the locks or the edit set, and a model is not taught to fire controls that
/// change nothing.
///
/// Usage:
///   const auto vocab = apgen::tasks::parity::make_vocabulary();
///   auto gen = apgen::make_generator(apgen::tasks::parity::oracle(vocab), apgen::schedules::any_process<>());
///   auto records = apgen::train::record_trajectories(gen, canvas);               // every step of every row
///   apgen::train::trajectory_writer out("parity.jsonl", {vocab.size(), vocab.mask()});
///   for (const auto& r : records) out.write(r);

#include <apgen/config.hpp>
#include <apgen/core/canvas.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/ops.hpp>
#include <apgen/core/step_plan.hpp>
#include <apgen/core/trace.hpp>
#include <apgen/core/transition.hpp>
#include <apgen/engine/generator.hpp>
#include <apgen/engine/process_trace.hpp>
#include <apgen/train/transition_record.hpp>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace apgen::train {

/// Something records can be handed to: `sink(std::move(record))` (a lambda, a trajectory_writer, ...). It lives
/// here rather than in engine/concepts.hpp because only the training headers use it.
template <class Sink>
concept record_sink = std::invocable<Sink&, transition_record&&>;

/// Settings of the teachers.
struct record_options {
  /// Leave out steps that leave a row unchanged (the fixed point a row ends on): the paper's training sets hold
  /// only transitions that do something (parity on length-2 inputs has exactly seven).
  bool skip_unchanged = true;
  /// check_consistent every record as it is made, so a teacher bug shows at its source (throws parse_error naming
  /// the trajectory and step).
  bool check = true;
  /// Trajectory id of the first row (row r of the canvas is trajectory first_trajectory + r).
  std::int64_t first_trajectory = 0;
};

/// Hands `sink` one record per row step of `trace` in step order, rows in order within a step: x = the row before
/// the step (the starting row, then the previous step's result), next = the row after it, labels = the bits the
/// transition applied (already filtered by the generator's edit set and the row's locks), made effective (see the
/// file comment), and the encoding the step read. A row step that overflowed (overflow_policy::stop_row) is left
/// out: nothing was applied.
template <record_sink Sink>
void trace_records(const process_trace& trace, Sink&& sink, const record_options& opt = {}) {
  const token_id mask = trace.mask();
  std::vector<std::vector<token_id>> before(trace.rows());
  for (std::size_t r = 0; r < trace.rows(); ++r) before[r] = trace.start_row(r);
  for (const traced_row_step& s : trace.steps()) {
    std::vector<token_id>& x = before[s.row];
    const bool unchanged = s.after == x;
    if (!s.overflowed && !(unchanged && opt.skip_unchanged)) {
      const std::size_t n = x.size();
      if (s.tokens.size() != n || s.applied.size() != n)
        apgen::detail::fail<shape_mismatch>("teacher: step ", s.step, " of row ", s.row, " records ", s.applied.size(),
                                            " positions, the row had ", n);
      transition_record rec;
      rec.x = x;
      rec.y = s.tokens;
      rec.remask.resize(n);
      rec.insert.resize(n);
      rec.del.resize(n);
      rec.unmask.resize(n);
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint8_t b = s.applied[i]; // what the transition acted on
        rec.remask[i] = (b & op_remask) ? 1 : 0;
        rec.insert[i] = (b & op_insert) ? 1 : 0;
        rec.del[i] = (b & op_erase) ? 1 : 0;
        rec.unmask[i] = (b & op_unmask) ? 1 : 0;
      }
      rec = effective_labels(rec, mask);
      rec.next = s.after;
      rec.encoding = s.encoding;
      rec.trajectory = opt.first_trajectory + static_cast<std::int64_t>(s.row);
      rec.step = static_cast<std::int64_t>(s.step);
      if (opt.check)
        check_consistent(
            rec, mask, trace.vocab_size(),
            apgen::detail::message("teacher: trajectory ", *rec.trajectory, " (row ", s.row, "), step ", s.step));
      sink(std::move(rec));
    }
    x = s.after;
  }
}

/// Runs `gen` on `c` with a process_trace as the observer and hands `sink` the trace's records (trace_records).
/// Returns the generation's result.
/// \tparam Generator an apgen::generator (its step_report carries the plan and the applied bits)
/// \tparam Sink called as sink(transition_record&&); a trajectory_writer is one
template <class Generator, record_sink Sink>
generation_result record_trajectories(Generator& gen, canvas& c, Sink&& sink, const record_options& opt = {}) {
  process_trace trace(c);
  const generation_result result = gen.generate(c, trace);
  trace_records(trace, sink, opt);
  return result;
}

/// record_trajectories collecting the records into a vector.
template <class Generator>
[[nodiscard]] std::vector<transition_record> record_trajectories(Generator& gen, canvas& c,
                                                                 const record_options& opt = {}) {
  std::vector<transition_record> out;
  record_trajectories(
      gen, c, [&](transition_record&& r) { out.push_back(std::move(r)); }, opt);
  return out;
}

} // namespace apgen::train
