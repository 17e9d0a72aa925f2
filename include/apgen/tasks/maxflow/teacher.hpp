#pragma once
/// \file
/// The max-flow teacher: the process of each graph run through the generator as training records, every
/// trajectory replayed through apply_transition and its final sequence checked against the exact solver; and
/// `trajectory`, the process stepped directly (no generator) for statistics.

#include <apgen/core/canvas.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/vocabulary.hpp>
#include <apgen/engine/generator.hpp>
#include <apgen/engine/process_trace.hpp>
#include <apgen/schedules/any_process.hpp>
#include <apgen/tasks/maxflow/encoder.hpp>
#include <apgen/tasks/maxflow/graph.hpp>
#include <apgen/tasks/maxflow/oracle.hpp>
#include <apgen/tasks/maxflow/process.hpp>
#include <apgen/tasks/maxflow/task.hpp>
#include <apgen/train/teacher.hpp>
#include <apgen/train/transition_record.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace apgen::tasks::maxflow {

/// The states of the process on one graph, from its prompt to its final sequence, and each step's phase:
/// states[t + 1] is states[t] after a step of phase phases[t] (the fixed point not repeated).
struct process_trajectory {
  std::vector<std::vector<token_id>> states;
  std::vector<phase> phases;
  [[nodiscard]] std::size_t steps() const noexcept { return phases.size(); }
  [[nodiscard]] const std::vector<token_id>& final_sequence() const noexcept { return states.back(); }
};

/// Steps the process on `g` (checked) until its fixed point, by next_step and apply_step. Throws invalid_argument
/// when `step_cap` steps do not reach it.
[[nodiscard]] inline process_trajectory trajectory(const graph& g, std::size_t step_cap = 10000) {
  process_trajectory out;
  out.states.push_back(prompt(g));
  for (std::size_t t = 0;; ++t) {
    const process_step step = next_step(out.states.back());
    if (step.kind == phase::done) return out;
    if (t == step_cap)
      apgen::detail::fail<invalid_argument>("maxflow trajectory: no fixed point in ", step_cap, " steps");
    out.states.push_back(apply_step(out.states.back(), step));
    out.phases.push_back(step.kind);
  }
}

/// The canvas row capacity for `g`'s process.
[[nodiscard]] inline std::size_t capacity_for(const graph& g) noexcept {
  return row_capacity(g.nodes, g.edges.size());
}

/// Records of the process on every graph of `graphs` (trajectory opt.first_trajectory + k for graph k), run
/// `batch` graphs at a time through the generator with the header locked and the state encoder (so records carry
/// the features and allowed sets a model reads), the fixed point included (halting must
/// be taught; skip_unchanged is ignored). Every batch's trace is replayed through apply_transition, and every final
/// sequence must pass `verify` against the solver; either failure throws (apgen::error naming the step, or
/// invalid_argument naming the graph and the verdict). Returns the generator's steps per graph (the fixed point
/// counted once).
template <train::record_sink Sink>
std::vector<std::uint32_t> teacher(const std::vector<graph>& graphs, Sink&& sink, const train::record_options& opt = {},
                                   std::size_t batch = 64) {
  if (batch == 0) apgen::detail::fail<invalid_argument>("maxflow teacher: batch must be positive");
  const vocabulary v = make_vocabulary();
  std::vector<std::uint32_t> steps;
  for (std::size_t at = 0; at < graphs.size(); at += batch) {
    const std::size_t n = std::min(batch, graphs.size() - at);
    std::vector<std::size_t> capacities;
    for (std::size_t r = 0; r < n; ++r) capacities.push_back(capacity_for(graphs[at + r]));
    canvas c(v, capacities);
    for (std::size_t r = 0; r < n; ++r) c.assign(r, prompt(graphs[at + r]), header_length);
    auto gen = make_generator(oracle{}, schedules::any_process<>(),
                              generator_options{.encoder = row_encoder(state_encoder{})});
    process_trace trace(c);
    const generation_result result = gen.generate(c, trace);
    replay(trace, v);
    for (std::size_t r = 0; r < n; ++r) {
      const verdict outcome = verify(graphs[at + r], c.row(r));
      if (!outcome.passed())
        apgen::detail::fail<invalid_argument>("maxflow teacher: graph ", at + r,
                                              "'s final sequence fails: ", outcome.problem);
      steps.push_back(result.rows[r].steps);
    }
    train::record_options o = opt;
    o.skip_unchanged = false;
    o.first_trajectory = opt.first_trajectory + static_cast<std::int64_t>(at);
    train::trace_records(trace, sink, o);
  }
  return steps;
}

/// teacher collecting the records into a vector.
[[nodiscard]] inline std::vector<train::transition_record> teacher(const std::vector<graph>& graphs) {
  std::vector<train::transition_record> out;
  (void)teacher(graphs, [&](train::transition_record&& r) { out.push_back(std::move(r)); });
  return out;
}

} // namespace apgen::tasks::maxflow
