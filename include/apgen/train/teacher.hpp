#pragma once
/// \file
/// Teachers: run a generator (usually an exact oracle) and turn every step of every row into a transition_record,
/// the training data of the paper's experiments. `record_trajectories` works with any generator; each task's
/// folder has the teacher that drives its oracle (tasks/parity/teacher.hpp, tasks/dyck/teacher.hpp).
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
#include <apgen/engine/generator.hpp>
#include <apgen/core/ops.hpp>
#include <apgen/core/step_plan.hpp>
#include <apgen/core/trace.hpp>
#include <apgen/core/transition.hpp>
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

/// Runs `gen` on `c` and hands `sink` one record per (active row, step) in step order, rows in order within a step:
/// x = the row before the step, next = the row after it, labels = the step's plan filtered by the generator's edit
/// set and the row's locks, then made effective (see the file comment). A row that overflowed (overflow_policy::
/// stop_row) is left out: nothing was applied. Returns the generation's result.
/// \tparam Generator an apgen::generator (its step_report carries the plan and the applied bits)
/// \tparam Sink called as sink(transition_record&&); a trajectory_writer is one
template <class Generator, record_sink Sink>
generation_result record_trajectories(Generator& gen, canvas& c, Sink&& sink, const record_options& opt = {}) {
  const std::size_t rows = c.rows();
  const token_id mask = c.mask();
  // The state before the coming step: what the canvas held after the previous one (or initially). The labels
  // come from the step's applied bits, which already account for the edit set and the locks.
  std::vector<std::vector<token_id>> before(rows);
  const auto snapshot = [&](const canvas& now, std::size_t r) { before[r].assign(now.row(r).begin(), now.row(r).end()); };
  for (std::size_t r = 0; r < rows; ++r) snapshot(c, r);
  std::vector<std::uint8_t> was_active(rows, 1); // the generator starts with every row active
  const auto observer = [&](const canvas& now, const step_report& rep) {
    if (!rep.plan || rep.applied.size() != rep.plan->ops.size())
      apgen::detail::fail<invalid_argument>("record_trajectories: the generator reported a step without its plan and applied bits");
    const step_plan& plan = *rep.plan;
    for (std::size_t r = 0; r < rows; ++r) {
      if (!was_active[r]) continue;
      const auto after = now.row(r);
      const bool unchanged = std::equal(after.begin(), after.end(), before[r].begin(), before[r].end());
      if (!rep.deltas[r].overflowed && !(unchanged && opt.skip_unchanged)) {
        const std::size_t n = before[r].size();
        if (plan.row_length(r) != n)
          apgen::detail::fail<shape_mismatch>("record_trajectories: the plan of row ", r, " at step ", rep.step,
                                              " has ", plan.row_length(r), " positions, the row had ", n);
        const auto y = plan.tokens_of(r);
        const auto applied = rep.applied.subspan(plan.offsets[r], n);
        transition_record rec;
        rec.x = before[r];
        rec.y.assign(y.begin(), y.end());
        rec.remask.resize(n);
        rec.insert.resize(n);
        rec.del.resize(n);
        rec.unmask.resize(n);
        for (std::size_t i = 0; i < n; ++i) {
          const std::uint8_t b = applied[i]; // what the transition acted on
          rec.remask[i] = (b & op_remask) ? 1 : 0;
          rec.insert[i] = (b & op_insert) ? 1 : 0;
          rec.del[i] = (b & op_erase) ? 1 : 0;
          rec.unmask[i] = (b & op_unmask) ? 1 : 0;
        }
        rec = effective_labels(rec, mask);
        rec.next.assign(after.begin(), after.end());
        rec.trajectory = opt.first_trajectory + static_cast<std::int64_t>(r);
        rec.step = static_cast<std::int64_t>(rep.step);
        if (opt.check)
          check_consistent(
              rec, mask, now.vocab_size(),
              apgen::detail::message("teacher: trajectory ", *rec.trajectory, " (row ", r, "), step ", rep.step));
        sink(std::move(rec));
      }
      snapshot(now, r);
    }
    std::copy(rep.active.begin(), rep.active.end(), was_active.begin());
  };
  no_trace off;
  return gen.generate(c, off, observer);
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
