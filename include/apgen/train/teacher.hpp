#pragma once
/// \file
/// Teachers: run a generator (usually an exact oracle) and turn every step of every row into a transition_record,
/// the training data of the paper's experiments. `record_trajectories` works with any generator; `parity_teacher`
/// and `dyck_teacher` drive the two oracles.
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
///   auto records = apgen::train::parity_teacher(vocab, {{0, 1}, {1, 1}});       // every step of both inputs
///   apgen::train::trajectory_writer out("parity.jsonl", {vocab.size(), vocab.mask()});
///   for (const auto& r : records) out.write(r);

#include <apgen/config.hpp>
#include <apgen/core/canvas.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/generator.hpp>
#include <apgen/core/ops.hpp>
#include <apgen/core/step_plan.hpp>
#include <apgen/core/trace.hpp>
#include <apgen/core/transition.hpp>
#include <apgen/core/vocabulary.hpp>
#include <apgen/denoisers/oracles/dyck.hpp>
#include <apgen/denoisers/oracles/parity.hpp>
#include <apgen/schedules/any_process.hpp>
#include <apgen/tasks/dyck.hpp>
#include <apgen/tasks/parity.hpp>
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
/// here rather than in core/concepts.hpp because only the training headers use it.
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
/// \tparam Generator an apgen::generator (needs generate(canvas&, Recorder&, Observer) and edits_type)
/// \tparam Sink called as sink(transition_record&&); a trajectory_writer is one
template <class Generator, record_sink Sink>
generation_result record_trajectories(Generator& gen, canvas& c, Sink&& sink, const record_options& opt = {}) {
  constexpr edits::edit_mask allowed = Generator::edits_type::mask;
  const std::size_t rows = c.rows();
  const token_id mask = c.mask();
  // The state before the coming step: what the canvas held after the previous one (or initially).
  std::vector<std::vector<token_id>> before(rows);
  std::vector<std::vector<std::uint8_t>> locks(rows);
  const auto snapshot = [&](const canvas& now, std::size_t r) {
    before[r].assign(now.row(r).begin(), now.row(r).end());
    locks[r].assign(now.locked(r).begin(), now.locked(r).end());
  };
  for (std::size_t r = 0; r < rows; ++r) snapshot(c, r);
  std::vector<std::uint8_t> was_active(rows, 1); // the generator starts with every row active
  const auto observer = [&](const canvas& now, const step_report& rep) {
    if (!rep.plan)
      apgen::detail::fail<invalid_argument>("record_trajectories: the generator reported a step without its plan");
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
        const auto ops = plan.ops_of(r);
        transition_record rec;
        rec.x = before[r];
        rec.y.assign(y.begin(), y.end());
        rec.remask.resize(n);
        rec.insert.resize(n);
        rec.del.resize(n);
        rec.unmask.resize(n);
        for (std::size_t i = 0; i < n; ++i) {
          // The bits the transition acted on: the request filtered by the edit set and the lock.
          const std::uint8_t b = apgen::detail::effective_ops(ops[i], locks[r][i] != 0, i + 1 == n, allowed);
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

/// The parity oracle's trajectories (AP-MDM: remask zeros and pairs of ones, delete MASKs) from [BOS] b1 .. bn
/// for every input of `inputs`, BOS locked; input k is trajectory opt.first_trajectory + k. Runs `batch` inputs at
/// a time. `v` must be tasks::parity::make_vocabulary(). Throws invalid_argument for a batch of 0.
template <record_sink Sink>
void parity_teacher(const vocabulary& v, const std::vector<std::vector<int>>& inputs, Sink&& sink,
                    const record_options& opt = {}, std::size_t batch = 256) {
  if (batch == 0) apgen::detail::fail<invalid_argument>("parity_teacher: batch must be positive");
  for (std::size_t at = 0; at < inputs.size(); at += batch) {
    const std::size_t n = std::min(batch, inputs.size() - at);
    std::vector<std::size_t> caps(n);
    for (std::size_t r = 0; r < n; ++r) caps[r] = inputs[at + r].size() + 1; // parity only shrinks a row
    canvas c(v, caps);
    for (std::size_t r = 0; r < n; ++r) c.assign(r, tasks::parity::encode(v, inputs[at + r]), 1);
    auto gen = make_generator(oracles::parity(v), schedules::any_process<>());
    record_options o = opt;
    o.first_trajectory = opt.first_trajectory + static_cast<std::int64_t>(at);
    record_trajectories(gen, c, sink, o);
  }
}

/// parity_teacher collecting the records into a vector.
[[nodiscard]] inline std::vector<transition_record>
parity_teacher(const vocabulary& v, const std::vector<std::vector<int>>& inputs, const record_options& opt = {}) {
  std::vector<transition_record> out;
  parity_teacher(
      v, inputs, [&](transition_record&& r) { out.push_back(std::move(r)); }, opt);
  return out;
}

/// `trajectories` runs of the Dyck-k oracle (insertion of cancelling pairs: grow / open / close rounds) from
/// [BOS], BOS locked. Trajectory k (id opt.first_trajectory + k) uses row key opt.first_trajectory + k and `seed`,
/// so its records do not depend on `batch`. `v` must be tasks::dyck::make_vocabulary(o.pairs).
template <record_sink Sink>
void dyck_teacher(const vocabulary& v, const oracles::dyck_options& o, std::size_t trajectories, std::uint64_t seed,
                  Sink&& sink, const record_options& opt = {}, std::size_t batch = 256) {
  if (batch == 0) apgen::detail::fail<invalid_argument>("dyck_teacher: batch must be positive");
  const token_id bos = v.require_bos("dyck_teacher");
  for (std::size_t at = 0; at < trajectories; at += batch) {
    const std::size_t n = std::min(batch, trajectories - at);
    // A round inserts at most (max_length - letters) / 2 MASKs and the open step doubles them: max_length + 1.
    canvas c(v, n, o.max_length + 2);
    const std::int64_t first = opt.first_trajectory + static_cast<std::int64_t>(at);
    for (std::size_t r = 0; r < n; ++r) {
      c.assign(r, {bos}, 1);
      c.set_row_key(r, static_cast<std::uint64_t>(first + static_cast<std::int64_t>(r)));
    }
    auto gen = make_generator(oracles::dyck(v, o), schedules::any_process<>(), generator_options{.seed = seed});
    record_options ro = opt;
    ro.first_trajectory = first;
    record_trajectories(gen, c, sink, ro);
  }
}

/// dyck_teacher collecting the records into a vector.
[[nodiscard]] inline std::vector<transition_record> dyck_teacher(const vocabulary& v, const oracles::dyck_options& o,
                                                                 std::size_t trajectories, std::uint64_t seed = 0,
                                                                 const record_options& opt = {}) {
  std::vector<transition_record> out;
  dyck_teacher(
      v, o, trajectories, seed, [&](transition_record&& r) { out.push_back(std::move(r)); }, opt);
  return out;
}

} // namespace apgen::train
