#pragma once
/// \file
/// A replayable record of a generation: the starting rows, and for every step of every running row the step's
/// plan (chosen tokens y_i and requested edit bits), the bits the transition applied, the row encoding the step
/// read, and the row after the step. It is an observer of generator::generate, so it costs nothing when unused.
///
/// Two things follow from storing the starting rows and the applied bits:
///   - `replay` runs the recorded steps again through apply_transition from the starting rows and checks every
///     row against the recorded result, so a trace (or a teacher's trajectory) is verified by the library's own
///     transition and not by a second implementation of it;
///   - teachers read their labels from the trace (train/teacher.hpp) instead of recomputing what the transition did.
///
/// Usage:
///   apgen::process_trace trace(c);        // before generating: keeps the starting rows
///   gen.generate(c, trace);               // the trace is the observer
///   apgen::replay(trace, vocab);          // throws apgen::error naming the first step that does not replay

#include <apgen/config.hpp>
#include <apgen/core/canvas.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/ops.hpp>
#include <apgen/core/row_encoding.hpp>
#include <apgen/core/step_plan.hpp>
#include <apgen/core/transition.hpp>
#include <apgen/core/vocabulary.hpp>
#include <apgen/engine/generator.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace apgen {

/// One running row's step. Every per-position vector has the length of the row before the step.
struct traced_row_step {
  std::uint32_t step = 0;
  std::size_t row = 0;
  std::vector<token_id> tokens{};        ///< y_i as the token pass chose them (meaningful where a MASK is unmasked)
  std::vector<std::uint8_t> requested{}; ///< the schedule's edit bits (op_bits)
  std::vector<std::uint8_t> applied{};   ///< the bits the transition acted on (request filtered by edit set and locks)
  row_encoding encoding{};               ///< the encoding the step read (empty without an encoder)
  std::vector<token_id> after{};         ///< the row after the step
  bool overflowed = false;               ///< the row outgrew its capacity (overflow_policy::stop_row): nothing applied

  friend bool operator==(const traced_row_step&, const traced_row_step&) = default;
};

/// The trace of one generation (see the file comment). Steps are stored in step order, rows in order within a step.
class process_trace {
public:
  process_trace() = default;
  /// Starts a trace of a generation about to run on `c`: keeps its rows, capacities, row keys and MASK id.
  explicit process_trace(const canvas& c) { start(c); }

  /// (Re)starts the trace on `c`, forgetting any steps recorded before.
  void start(const canvas& c) {
    m_mask = c.mask();
    m_vocab_size = c.vocab_size();
    m_start.assign(c.rows(), {});
    m_capacity.assign(c.rows(), 0);
    m_row_key.assign(c.rows(), 0);
    for (std::size_t r = 0; r < c.rows(); ++r) {
      m_start[r].assign(c.row(r).begin(), c.row(r).end());
      m_capacity[r] = c.capacity(r);
      m_row_key[r] = c.row_key(r);
    }
    m_running.assign(c.rows(), 1); // the generator starts with every row running
    m_steps.clear();
  }

  /// The observer call: records every row that ran this step.
  void operator()(const canvas& now, const step_report& rep) {
    if (now.rows() != m_start.size())
      detail::fail<invalid_argument>("process_trace: the canvas has ", now.rows(), " rows, the trace was started on ",
                                     m_start.size(), " (construct the trace from the canvas before generating)");
    if (!rep.plan || rep.applied.size() != rep.plan->ops.size())
      detail::fail<invalid_argument>("process_trace: step ", rep.step,
                                     " was reported without its plan and applied bits");
    const step_plan& plan = *rep.plan;
    for (std::size_t r = 0; r < m_start.size(); ++r) {
      if (!m_running[r]) continue;
      traced_row_step s;
      s.step = rep.step;
      s.row = r;
      const auto y = plan.tokens_of(r);
      const auto ops = plan.ops_of(r);
      const auto applied = rep.applied.subspan(plan.offsets[r], plan.row_length(r));
      s.tokens.assign(y.begin(), y.end());
      s.requested.assign(ops.begin(), ops.end());
      s.applied.assign(applied.begin(), applied.end());
      if (!rep.encodings.empty()) s.encoding = rep.encodings[r];
      s.after.assign(now.row(r).begin(), now.row(r).end());
      s.overflowed = rep.deltas[r].overflowed;
      m_steps.push_back(std::move(s));
    }
    std::copy(rep.active.begin(), rep.active.end(), m_running.begin());
  }

  [[nodiscard]] std::size_t rows() const noexcept { return m_start.size(); }
  [[nodiscard]] const std::vector<token_id>& start_row(std::size_t r) const { return m_start.at(r); }
  [[nodiscard]] std::size_t capacity(std::size_t r) const { return m_capacity.at(r); }
  [[nodiscard]] std::uint64_t row_key(std::size_t r) const { return m_row_key.at(r); }
  [[nodiscard]] token_id mask() const noexcept { return m_mask; }
  [[nodiscard]] std::size_t vocab_size() const noexcept { return m_vocab_size; }
  [[nodiscard]] std::span<const traced_row_step> steps() const noexcept { return m_steps; }

  /// Appends a step read back from somewhere else (a file); `replay` checks it like a recorded one.
  void append(traced_row_step s) {
    if (s.row >= m_start.size())
      detail::fail<invalid_argument>("process_trace: step ", s.step, " names row ", s.row, " of ", m_start.size());
    m_steps.push_back(std::move(s));
  }
  /// Starts an empty trace from its parts (a trace read back from a file).
  void start(std::vector<std::vector<token_id>> rows, std::vector<std::size_t> capacities,
             std::vector<std::uint64_t> row_keys, token_id mask, std::size_t vocab_size) {
    if (capacities.size() != rows.size() || row_keys.size() != rows.size())
      detail::fail<shape_mismatch>("process_trace: ", rows.size(), " rows, ", capacities.size(), " capacities and ",
                                   row_keys.size(), " row keys");
    m_start = std::move(rows);
    m_capacity = std::move(capacities);
    m_row_key = std::move(row_keys);
    m_mask = mask;
    m_vocab_size = vocab_size;
    m_running.assign(m_start.size(), 1);
    m_steps.clear();
  }

private:
  std::vector<std::vector<token_id>> m_start;
  std::vector<std::size_t> m_capacity;
  std::vector<std::uint64_t> m_row_key;
  std::vector<std::uint8_t> m_running;
  std::vector<traced_row_step> m_steps;
  token_id m_mask = 0;
  std::size_t m_vocab_size = 0;
};

/// What `replay` went through.
struct replay_summary {
  std::size_t steps = 0;     ///< distinct steps
  std::size_t row_steps = 0; ///< row steps checked
};

/// Replays `trace` from its starting rows through apply_transition (every edit allowed: the applied bits already
/// carry the edit set and the locks) on a canvas of `vocab`, step by step, and checks each row against the recorded
/// result. Throws shape_mismatch when `vocab` is not the trace's vocabulary or a step's vectors do not fit its row,
/// and apgen::error naming the step, the row and the first differing position when a row does not replay.
inline replay_summary replay(const process_trace& trace, const vocabulary& vocab) {
  if (vocab.size() != trace.vocab_size() || vocab.mask() != trace.mask())
    detail::fail<shape_mismatch>("replay: the trace was made with ", trace.vocab_size(), " tokens and MASK ",
                                 trace.mask(), ", the vocabulary has ", vocab.size(), " and MASK ", vocab.mask());
  const std::size_t B = trace.rows();
  replay_summary out;
  if (B == 0) return out;
  std::vector<std::size_t> capacities(B);
  for (std::size_t r = 0; r < B; ++r) capacities[r] = trace.capacity(r);
  canvas c(vocab, capacities);
  for (std::size_t r = 0; r < B; ++r) {
    c.assign(r, trace.start_row(r));
    c.set_row_key(r, trace.row_key(r));
  }
  step_plan plan;
  std::vector<row_delta> deltas(B);
  std::vector<std::uint8_t> running(B);
  const auto steps = trace.steps();
  for (std::size_t first = 0; first < steps.size();) {
    const std::uint32_t step = steps[first].step;
    std::size_t last = first;
    while (last < steps.size() && steps[last].step == step) ++last;
    plan.reshape(c, false);
    std::fill(plan.ops.begin(), plan.ops.end(), op_none);
    std::fill(plan.token.begin(), plan.token.end(), c.mask());
    std::fill(running.begin(), running.end(), 0);
    for (std::size_t k = first; k < last; ++k) {
      const traced_row_step& s = steps[k];
      const std::size_t n = c.length(s.row);
      if (s.tokens.size() != n || s.applied.size() != n)
        detail::fail<shape_mismatch>("replay: step ", step, ", row ", s.row, " records ", s.tokens.size(),
                                     " tokens and ", s.applied.size(), " applied bits for a row of ", n);
      if (running[s.row]) detail::fail<invalid_argument>("replay: step ", step, " records row ", s.row, " twice");
      if (s.overflowed) continue; // nothing was applied
      running[s.row] = 1;
      std::copy(s.tokens.begin(), s.tokens.end(), plan.tokens_of(s.row).begin());
      std::copy(s.applied.begin(), s.applied.end(), plan.ops_of(s.row).begin());
    }
    apply_transition<backends::serial>(c, plan, std::span<row_delta>(deltas),
                                       transition_options{all_edits, overflow_policy::throw_error, step},
                                       std::span<const std::uint8_t>(running));
    for (std::size_t k = first; k < last; ++k) {
      const traced_row_step& s = steps[k];
      const auto got = c.row(s.row);
      if (std::equal(got.begin(), got.end(), s.after.begin(), s.after.end())) continue;
      std::size_t i = 0;
      while (i < got.size() && i < s.after.size() && got[i] == s.after[i]) ++i;
      detail::fail<error>("replay: step ", step, ", row ", s.row, " does not replay: at position ", i,
                          " the trace has ", i < s.after.size() ? std::to_string(s.after[i]) : std::string("nothing"),
                          ", the transition gives ", i < got.size() ? std::to_string(got[i]) : std::string("nothing"),
                          " (", s.after.size(), " against ", got.size(), " tokens)");
    }
    ++out.steps;
    out.row_steps += last - first;
    first = last;
  }
  return out;
}

} // namespace apgen
