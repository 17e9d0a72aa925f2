#pragma once
/// \file
/// A learned max-flow process: a bidirectional transformer with control heads that reads a state (tokens plus the
/// state encoder's roles and group nodes) and writes the next one, trained with the AP-MDM objective on the
/// teacher's transitions, then run from a graph's prompt to its fixed point with every bit thresholded at 0.5 and
/// the most likely token (within the encoder's sets) chosen.
///
/// Data: the train split's graphs of each node count, minus any graph that is also among the dev or test graphs
/// the evaluation uses (on 4 nodes the splits would otherwise share about a sixth of their graphs), and without
/// repeats.
///
/// Usage:
///   apgen::tasks::maxflow::training setup;                       // 4-10 nodes, 2,000 graphs each
///   auto w = apgen::tasks::maxflow::train_model(setup);
///   auto runs = apgen::tasks::maxflow::solve(apgen::nn::transformer(w), graphs);

#include <apgen/core/canvas.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/proportion.hpp>
#include <apgen/core/row_encoding.hpp>
#include <apgen/core/vocabulary.hpp>
#include <apgen/engine/concepts.hpp>
#include <apgen/engine/generator.hpp>
#include <apgen/nn/checkpoint.hpp>
#include <apgen/nn/config.hpp>
#include <apgen/nn/transformer.hpp>
#include <apgen/nn/weights.hpp>
#include <apgen/schedules/any_process.hpp>
#include <apgen/stopping/stop_rules.hpp>
#include <apgen/tasks/maxflow/encoder.hpp>
#include <apgen/tasks/maxflow/graph.hpp>
#include <apgen/tasks/maxflow/process.hpp>
#include <apgen/tasks/maxflow/task.hpp>
#include <apgen/tasks/maxflow/teacher.hpp>
#include <apgen/train/objectives.hpp>
#include <apgen/train/trainer.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace apgen::tasks::maxflow {

/// The model: width 128, 4 layers, 4 heads, FFN 256, rotary positions, the encoder's three features.
struct model_size {
  std::size_t d_model = 128, layers = 4, heads = 4, d_ff = 256;
};

[[nodiscard]] inline nn::transformer_config model_config(const model_size& s = {}) {
  nn::transformer_config c;
  c.vocab_size = tokens::count;
  c.d_model = s.d_model;
  c.n_layers = s.layers;
  c.n_heads = s.heads;
  c.d_ff = s.d_ff;
  c.mask_id = tokens::mask;
  c.feature_vocab_sizes = state_encoder{}.schema().feature_vocab_sizes;
  return c;
}

/// How many graphs of each node count the evaluation holds out (and training therefore never sees).
inline constexpr std::size_t test_graphs = 1000, dev_graphs = 200;

/// The training graphs of `nodes` nodes: the first `count` distinct train-split graphs that are none of the first
/// test_graphs test and dev_graphs dev graphs. Throws invalid_argument when the train split runs out of such graphs
/// (on few nodes there are only so many).
[[nodiscard]] inline std::vector<graph> training_graphs(std::size_t nodes, std::size_t count) {
  std::set<graph> seen;
  for (std::uint64_t i = 0; i < test_graphs; ++i) seen.insert(instance(split::test, nodes, i));
  for (std::uint64_t i = 0; i < dev_graphs; ++i) seen.insert(instance(split::dev, nodes, i));
  std::vector<graph> out;
  const std::uint64_t draws = 50 * static_cast<std::uint64_t>(count) + 1000;
  for (std::uint64_t i = 0; out.size() < count; ++i) {
    if (i == draws)
      apgen::detail::fail<invalid_argument>("maxflow training_graphs: only ", out.size(), " distinct graphs of ", nodes,
                                            " nodes outside the held-out ones in ", draws, " draws");
    graph g = instance(split::train, nodes, i);
    if (seen.insert(g).second) out.push_back(std::move(g));
  }
  return out;
}

/// A training run.
struct training {
  std::size_t min_nodes = 4, max_nodes_trained = 10;
  std::size_t graphs_per_count = 2000;
  std::uint64_t seed = 0; ///< initial weights and the shuffle
  std::uint64_t steps = 20000;
  std::size_t batch_size = 64;
  double lr = 1e-3, min_lr = 1e-4;
  std::uint64_t warmup = 200;
  /// The embeddings start this many times the default size (std 0.02): small embeddings are rewritten by the
  /// first optimiser steps before attention can use them (see docs/sudoku.md).
  double embedding_scale = 10.0;
  double control_weight = 1.0;
  model_size size{};
  std::uint64_t checkpoint_every = 0;
  std::string checkpoint_path;
};

/// Rows get this many positions beyond the process's longest state, so a model that inserts too much is stopped by
/// its row's capacity (stop_reason::capacity) a little later than the teacher would need, not at once.
inline constexpr std::size_t row_headroom = 16;

/// Throws invalid_argument unless the run's node counts satisfy 3 <= min <= max <= max_nodes.
inline void check_node_counts(const training& s) {
  if (s.min_nodes < 3 || s.max_nodes_trained > max_nodes || s.min_nodes > s.max_nodes_trained)
    apgen::detail::fail<invalid_argument>("maxflow training: node counts must satisfy 3 <= min <= max <= ", max_nodes);
}

/// The teacher's records of the run's training graphs, as process examples carrying the encoder's features.
[[nodiscard]] inline std::vector<train::example> training_examples(const training& s) {
  check_node_counts(s);
  const auto schema = std::make_shared<const feature_schema>(state_encoder{}.schema());
  std::vector<train::example> out;
  for (std::size_t n = s.min_nodes; n <= s.max_nodes_trained; ++n)
    (void)teacher(training_graphs(n, s.graphs_per_count), [&](train::transition_record&& r) {
      out.push_back(train::process_example(r, tokens::mask, 1.0, s.control_weight, schema));
    });
  return out;
}

/// The weights a run of `config` starts from: random (s.seed), the embeddings s.embedding_scale times the default
/// size.
[[nodiscard]] inline nn::transformer_weights initial_weights(const nn::transformer_config& config, const training& s) {
  auto w = nn::transformer_weights::random(config, s.seed);
  const auto scale = static_cast<float>(s.embedding_scale);
  w.tok_embed *= scale;
  for (auto& e : w.feat_embed) e *= scale;
  return w;
}

[[nodiscard]] inline train::trainer_options trainer_setup(const training& s) {
  train::trainer_options o;
  o.batch_size = s.batch_size;
  o.steps = s.steps;
  o.seed = s.seed;
  o.schedule.base_lr = s.lr;
  o.schedule.min_lr = s.min_lr;
  o.schedule.warmup_steps = std::min(s.warmup, s.steps);
  o.schedule.total_steps = s.steps;
  o.schedule.kind = train::lr_kind::cosine;
  o.checkpoint_every = s.checkpoint_every;
  o.checkpoint_path = s.checkpoint_path;
  return o;
}

/// Loads a saved model and checks it has `want`'s vocabulary, mask, features, attention and heads: another
/// model's file is refused with shape_mismatch naming the field and saying it is not `what`.
[[nodiscard]] inline nn::transformer_weights load_checked(const std::string& path, const nn::transformer_config& want,
                                                          const char* what) {
  // A trainer checkpoint loads too: its optimiser moments ("adam.*") are skipped.
  nn::transformer_weights w = nn::load_transformer(path, "adam.");
  const auto& got = w.config;
  auto differs = [&](const char* field) {
    apgen::detail::fail<shape_mismatch>(path, ": not ", what, ": its ", field, " differs from the task's");
  };
  if (got.vocab_size != want.vocab_size) differs("vocabulary size");
  if (got.mask_id != want.mask_id) differs("mask id");
  if (got.feature_vocab_sizes != want.feature_vocab_sizes) differs("feature vocabularies");
  if (got.causal != want.causal) differs(got.causal ? "attention (causal)" : "attention (bidirectional)");
  if (got.control_heads != want.control_heads)
    differs(got.control_heads ? "control heads (present)" : "control heads (none)");
  return w;
}

/// Loads a saved AP-MDM model and checks it is this task's (vocabulary, mask, features, bidirectional, control
/// heads).
[[nodiscard]] inline nn::transformer_weights load_model(const std::string& path) {
  return load_checked(path, model_config(), "a max-flow model");
}

/// One run of a model on a graph, judged.
struct solve_result {
  std::vector<token_id> final_row;
  std::uint32_t steps = 0;
  stop_reason reason = stop_reason::running;
  bool exact = false;              ///< the final row is the teacher's final sequence
  std::uint32_t teacher_steps = 0; ///< the teacher's steps on the same graph, its fixed point counted
  verdict check;                   ///< the verifier on the final row
};

/// Fills in `s`'s final row and verdicts for a run on `g` that ended with `final_row` (s.reason already set): the
/// verifier's, the teacher's steps, and exact (a fixed point equal to the teacher's final sequence).
inline void judge(const graph& g, std::span<const token_id> final_row, solve_result& s) {
  s.final_row.assign(final_row.begin(), final_row.end());
  s.check = verify(g, final_row);
  const process_trajectory teacher_run = trajectory(g);
  s.teacher_steps = static_cast<std::uint32_t>(teacher_run.steps() + 1);
  s.exact = s.reason == stop_reason::fixed_point && s.final_row == teacher_run.final_sequence();
}

struct solve_options {
  std::size_t batch = 64;
  std::uint32_t max_steps = 200; ///< the longest teacher trajectory on 4-10 nodes is under 60 steps
};

/// Runs `model` from each graph's prompt until its fixed point (or the step cap, or a row outgrowing its
/// capacity), greedily, within the encoder's token sets, the header locked, and judges each final row.
template <denoiser Model>
[[nodiscard]] std::vector<solve_result> solve(const Model& model, const std::vector<graph>& graphs,
                                              const solve_options& o = {}) {
  if (o.batch == 0) apgen::detail::fail<invalid_argument>("maxflow solve: batch must be positive");
  const vocabulary v = make_vocabulary();
  if (model.vocab_size() != v.size())
    apgen::detail::fail<shape_mismatch>("maxflow solve: the model scores ", model.vocab_size(),
                                        " tokens, the task has ", v.size());
  generator_options go{.seed = 0, .overflow = overflow_policy::stop_row, .max_steps = o.max_steps};
  go.encoder = row_encoder(state_encoder{});
  auto gen = make_generator(model, schedules::any_process<>(), go);
  std::vector<solve_result> out(graphs.size());
  for (std::size_t at = 0; at < graphs.size(); at += o.batch) {
    const std::size_t n = std::min(o.batch, graphs.size() - at);
    std::vector<std::size_t> capacities;
    for (std::size_t r = 0; r < n; ++r) capacities.push_back(capacity_for(graphs[at + r]) + row_headroom);
    canvas c(v, capacities);
    for (std::size_t r = 0; r < n; ++r) c.assign(r, prompt(graphs[at + r]), header_length);
    const auto result = gen.generate(c);
    for (std::size_t r = 0; r < n; ++r) {
      auto& s = out[at + r];
      const auto row = c.row(r);
      s.steps = result.rows[r].steps;
      s.reason = result.rows[r].reason;
      judge(graphs[at + r], row, s);
    }
  }
  return out;
}

/// Teacher-forced step accuracy: the model run for one step from every state of the teacher's trajectories on
/// `graphs` (the final sequence included, where the step must change nothing), and whether the row it writes is the
/// teacher's next state, counted by the teacher's phase at that state (process.hpp; `done` for the final sequence).
/// Tells which part of the process a model has not learned, which the end-to-end rate cannot.
struct step_accuracy_report {
  std::array<proportion, static_cast<std::size_t>(phase::done) + 1> by_phase{};
  proportion all;
};

template <denoiser Model>
[[nodiscard]] step_accuracy_report step_accuracy(const Model& model, const std::vector<graph>& graphs,
                                                 std::size_t batch = 64) {
  if (batch == 0) apgen::detail::fail<invalid_argument>("maxflow step_accuracy: batch must be positive");
  struct pending {
    std::vector<token_id> from, to;
    phase kind;
    std::size_t capacity;
  };
  std::vector<pending> steps;
  for (const graph& g : graphs) {
    const process_trajectory run = trajectory(g);
    for (std::size_t t = 0; t < run.states.size(); ++t) {
      const bool last = t + 1 == run.states.size();
      steps.push_back({run.states[t], run.states[last ? t : t + 1], last ? phase::done : run.phases[t],
                       capacity_for(g) + row_headroom});
    }
  }
  const vocabulary v = make_vocabulary();
  generator_options go{.seed = 0, .overflow = overflow_policy::stop_row, .max_steps = 1};
  go.encoder = row_encoder(state_encoder{});
  auto gen = make_generator(model, schedules::any_process<>(), go);
  step_accuracy_report out;
  for (std::size_t at = 0; at < steps.size(); at += batch) {
    const std::size_t n = std::min(batch, steps.size() - at);
    std::vector<std::size_t> capacities;
    for (std::size_t r = 0; r < n; ++r) capacities.push_back(steps[at + r].capacity);
    canvas c(v, capacities);
    for (std::size_t r = 0; r < n; ++r) c.assign(r, steps[at + r].from, header_length);
    (void)gen.generate(c);
    for (std::size_t r = 0; r < n; ++r) {
      const auto row = c.row(r);
      const auto& want = steps[at + r].to;
      const bool right = std::equal(row.begin(), row.end(), want.begin(), want.end());
      auto& p = out.by_phase[static_cast<std::size_t>(steps[at + r].kind)];
      ++p.trials;
      ++out.all.trials;
      p.successes += right;
      out.all.successes += right;
    }
  }
  return out;
}

/// Trains a model of `config` on `data` with run s's schedule and seed, reporting each step to `on_step`;
/// `on_eval(step, weights)` runs every `eval_every` steps (0: never). With `resume_from` the run continues bit for
/// bit from that checkpoint.
[[nodiscard]] inline nn::transformer_weights
train_on(const nn::transformer_config& config, const training& s, std::vector<train::example> data,
         const std::function<void(const train::step_stats&)>& on_step = {}, std::uint64_t eval_every = 0,
         const std::function<void(std::uint64_t, nn::transformer_weights&)>& on_eval = {},
         const std::string& resume_from = {}) {
  auto w = initial_weights(config, s);
  auto options = trainer_setup(s);
  options.eval_every = eval_every;
  train::trainer t(w, std::move(data), options);
  if (on_step) t.on_step(on_step);
  if (on_eval) t.on_eval([&](std::uint64_t step) { on_eval(step, w); });
  if (!resume_from.empty()) t.resume(resume_from);
  t.run();
  return w;
}

/// Trains the AP-MDM model on training_examples(s) (see train_on).
[[nodiscard]] inline nn::transformer_weights
train_model(const training& s, const std::function<void(const train::step_stats&)>& on_step = {},
            std::uint64_t eval_every = 0,
            const std::function<void(std::uint64_t, nn::transformer_weights&)>& on_eval = {},
            const std::string& resume_from = {}) {
  return train_on(model_config(s.size), s, training_examples(s), on_step, eval_every, on_eval, resume_from);
}

} // namespace apgen::tasks::maxflow
