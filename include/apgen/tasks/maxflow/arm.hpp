#pragma once
/// \file
/// The ARM baseline of the max-flow process: the same process, written left to right. A causal transformer of the
/// AP-MDM model's size reads a state, a separator, and writes the next state one token at a time until [END]; the
/// run repeats that from the graph's prompt until the written state equals the one read (the process's fixed point),
/// so the ARM sees exactly what the AP-MDM sees each step (the whole current state) and differs only in how it writes
/// the next one: token by token, every token of the row rewritten, instead of in-place edits.
///
/// Row: state_t [SEP] state_{t+1} [END]. The vocabulary is the task's 53 tokens one id up, with [END] as the EOS
/// (the stop of one write) and the state's own MASKs (placeholders and remasked cut edges) spelled [HOLE], because in
/// an ARM row MASK is the slot the next token goes into. Features: a causal reading of the state grammar (the role of
/// each position and its group's nodes, from the tokens up to it, so a position's features never change as the row
/// grows and the KV cache stays valid), the endpoint code and the segment (read or written). No allowed sets: the ARM
/// writes the structure too.
///
/// Usage:
///   auto w = apgen::tasks::maxflow::train_arm(setup);              // the same graphs as train_model(setup)
///   auto runs = apgen::tasks::maxflow::solve_arm(apgen::nn::transformer(w), graphs);

#include <apgen/core/canvas.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/row_encoding.hpp>
#include <apgen/core/vocabulary.hpp>
#include <apgen/edits/edit_set.hpp>
#include <apgen/engine/concepts.hpp>
#include <apgen/engine/generator.hpp>
#include <apgen/nn/config.hpp>
#include <apgen/nn/transformer.hpp>
#include <apgen/nn/weights.hpp>
#include <apgen/schedules/autoregressive.hpp>
#include <apgen/stopping/stop_rules.hpp>
#include <apgen/tasks/maxflow/encoder.hpp>
#include <apgen/tasks/maxflow/graph.hpp>
#include <apgen/tasks/maxflow/learned.hpp>
#include <apgen/tasks/maxflow/task.hpp>
#include <apgen/tasks/maxflow/teacher.hpp>
#include <apgen/train/objectives.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace apgen::tasks::maxflow {

/// Token ids of make_arm_vocabulary().
namespace arm_tokens {
inline constexpr token_id mask = 0, end = 1, hole = 54, sep = 55;
inline constexpr std::size_t count = 56;
/// A state token's ARM id: its task id one up, MASK as [HOLE].
[[nodiscard]] constexpr token_id from_task(token_id t) noexcept {
  return t == tokens::mask ? hole : t + 1;
}
/// A written ARM id's task token, or -1 for [END], [SEP], MASK and ids outside the vocabulary.
[[nodiscard]] constexpr token_id to_task(token_id a) noexcept {
  if (a == hole) return tokens::mask;
  return a >= 2 && a < hole ? a - 1 : token_id{-1};
}
} // namespace arm_tokens

/// MASK, [END] (the EOS), the task's 52 other tokens, [HOLE], [SEP].
[[nodiscard]] inline vocabulary make_arm_vocabulary() {
  const vocabulary task = make_vocabulary();
  std::vector<std::string> s;
  for (token_id t = 1; t < static_cast<token_id>(tokens::count); ++t) s.push_back(task.text(t));
  s.push_back("[HOLE]");
  s.push_back("[SEP]");
  return vocabulary(s, special_names{"[MASK]", "", "", "[END]"});
}

/// Roles and group nodes of a state's positions read left to right: a position's reading uses only the tokens up
/// to it (an edge's "(" does not know its nodes yet; a group that breaks the grammar falls back to `other` from
/// the breaking token on). On a well-formed state the roles are read_roles's.
[[nodiscard]] inline position_roles read_roles_causal(std::span<const token_id> state) {
  const std::size_t n = state.size();
  position_roles out{std::vector<role>(n, role::other), std::vector<std::uint8_t>(n, 0),
                     std::vector<std::uint8_t>(n, 0)};
  enum class where { top, edge, node } at = where::top;
  bool in_nodes = false;
  std::size_t tail = 0, inside = 0; // tokens read inside the open group
  std::uint8_t a = 0, b = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const token_id t = state[i];
    if (i < header_length) {
      out.roles[i] = role::header;
      continue;
    }
    if (at != where::top) {
      const bool node = tokens::is_node(t);
      const auto id = static_cast<std::uint8_t>(node ? tokens::node_of(t) + 1 : 0);
      const std::size_t ids = at == where::edge ? 2 : 1; // node tokens a group starts with
      role r = role::other;
      if (inside < ids) {
        if (node) {
          r = inside == 0 ? (at == where::edge ? role::edge_from : role::node_id) : role::edge_to;
          (inside == 0 ? a : b) = id;
        }
      } else if (t == tokens::close) {
        r = role::close;
      } else if (inside < ids + 2 && t != tokens::open) {
        const bool second = inside == ids + 1;
        r = at == where::edge ? (second ? role::edge_slot2 : role::edge_slot1)
                              : (second ? role::node_parent : role::node_level);
      }
      if (r == role::other) {
        at = where::top; // the group broke: read on from here as outside any group
      } else {
        out.roles[i] = r;
        out.first[i] = a;
        out.second[i] = b;
        ++inside;
        if (r == role::close) at = where::top;
        continue;
      }
    }
    if (!in_nodes && t == tokens::nodes) {
      out.roles[i] = role::nodes_word;
      in_nodes = true;
    } else if (t == tokens::open) {
      out.roles[i] = role::open;
      at = in_nodes ? where::node : where::edge;
      inside = 0;
      a = b = 0;
    } else if (!in_nodes && t == tokens::mask) {
      out.roles[i] = role::marked;
    } else if (in_nodes && tail < 2) {
      out.roles[i] = tail++ == 0 ? role::tail_first : role::tail_second;
    }
  }
  return out;
}

/// The ARM rows' task_encoder: read_roles_causal of the state read and, after [SEP], of the state written, with
/// their endpoint codes (encoder.hpp), and the segment (0 up to [SEP], 1 from it on).
struct arm_encoder {
  [[nodiscard]] feature_schema schema() const {
    feature_schema s;
    s.feature_vocab_sizes = {role_count, max_nodes + 1, max_nodes + 1, endpoint_codes, 2};
    return s;
  }

  void encode(std::span<const token_id> row, row_encoding& out) const {
    const std::size_t n = row.size();
    out.features.assign(5, std::vector<token_id>(n, 0));
    out.allowed.assign(n, 0);
    const std::size_t sep = static_cast<std::size_t>(std::find(row.begin(), row.end(), arm_tokens::sep) - row.begin());
    auto read = [&](std::size_t from, std::size_t to) {
      std::vector<token_id> state;
      for (std::size_t i = from; i < to; ++i) state.push_back(arm_tokens::to_task(row[i]));
      const position_roles r = read_roles_causal(state);
      for (std::size_t i = from; i < to; ++i) {
        out.features[0][i] = static_cast<token_id>(r.roles[i - from]);
        out.features[1][i] = r.first[i - from];
        out.features[2][i] = r.second[i - from];
        out.features[3][i] = endpoint_code(state, r.first[i - from], r.second[i - from]);
      }
    };
    read(0, sep);
    if (sep < n) {
      read(sep + 1, n);
      for (std::size_t i = sep; i < n; ++i) out.features[4][i] = 1;
    }
  }
};

/// The ARM: model_size's transformer, causal, no control heads, over make_arm_vocabulary() and arm_encoder.
[[nodiscard]] inline nn::transformer_config arm_model_config(const model_size& s = {}) {
  nn::transformer_config c = model_config(s);
  c.vocab_size = arm_tokens::count;
  c.mask_id = arm_tokens::mask;
  c.feature_vocab_sizes = arm_encoder{}.schema().feature_vocab_sizes;
  c.causal = true;
  c.control_heads = false;
  return c;
}

/// The ARM row of one step: `from` [SEP] `to` [END] (task tokens, checked to be tokens of the task).
[[nodiscard]] inline std::vector<token_id> arm_row(std::span<const token_id> from, std::span<const token_id> to) {
  std::vector<token_id> row;
  row.reserve(from.size() + to.size() + 2);
  for (const auto* part : {&from, &to}) {
    for (const token_id t : *part) {
      if (t < 0 || static_cast<std::size_t>(t) >= tokens::count)
        apgen::detail::fail<invalid_token>("maxflow arm_row: token ", t, " is not a task token");
      row.push_back(arm_tokens::from_task(t));
    }
    row.push_back(part == &from ? arm_tokens::sep : arm_tokens::end);
  }
  return row;
}

/// The ARM's training examples: every step of the process on the run's training graphs (train_model's graphs), the
/// fixed point included (state_T [SEP] state_T [END]: halting must be taught), supervised on the written part only
/// ([SEP] predicts the first written token, the last written token predicts [END]). Each example is weighted by its
/// number of targets over the mean, so the objective is the written tokens' likelihood.
[[nodiscard]] inline std::vector<train::example> arm_training_examples(const training& s) {
  check_node_counts(s);
  const arm_encoder encoder;
  std::vector<train::example> out;
  double targets = 0;
  auto add = [&](const std::vector<token_id>& from, const std::vector<token_id>& to) {
    const std::vector<token_id> row = arm_row(from, to);
    train::example e = train::arm_example(row);
    std::fill(e.targets.begin(), e.targets.begin() + static_cast<std::ptrdiff_t>(from.size()), token_id{-1});
    row_encoding enc;
    encoder.encode(e.input, enc);
    e.features = std::move(enc.features);
    e.token_weight = static_cast<double>(to.size() + 1);
    targets += e.token_weight;
    out.push_back(std::move(e));
  };
  for (std::size_t n = s.min_nodes; n <= s.max_nodes_trained; ++n)
    for (const graph& g : training_graphs(n, s.graphs_per_count)) {
      const process_trajectory run = trajectory(g);
      for (std::size_t t = 0; t + 1 < run.states.size(); ++t) add(run.states[t], run.states[t + 1]);
      add(run.final_sequence(), run.final_sequence());
    }
  const double mean = targets / static_cast<double>(out.size());
  for (auto& e : out) e.token_weight /= mean;
  return out;
}

/// Trains the ARM on arm_training_examples(s) with train_model's schedule, seed and hooks.
[[nodiscard]] inline nn::transformer_weights
train_arm(const training& s, const std::function<void(const train::step_stats&)>& on_step = {},
          std::uint64_t eval_every = 0,
          const std::function<void(std::uint64_t, nn::transformer_weights&)>& on_eval = {},
          const std::string& resume_from = {}) {
  return train_on(arm_model_config(s.size), s, arm_training_examples(s), on_step, eval_every, on_eval, resume_from);
}

/// Loads a saved ARM and checks it is this task's (vocabulary, mask, features, causal, no control heads).
[[nodiscard]] inline nn::transformer_weights load_arm(const std::string& path) {
  return load_checked(path, arm_model_config(), "an ARM max-flow model");
}

/// Runs the ARM from each graph's prompt: each round writes the next state after [SEP] greedily until [END], and a
/// graph stops when a written state equals the one read (fixed_point), when a write does not end in [END] within
/// the state's capacity plus row_headroom tokens (capacity), when it writes a token that is not a state token
/// (length_limit: the written row is cut there) or after o.max_steps rounds (step_limit). `steps` counts the rounds,
/// the last (fixed-point) one included, as teacher_steps counts the teacher's.
template <denoiser Model>
[[nodiscard]] std::vector<solve_result> solve_arm(const Model& model, const std::vector<graph>& graphs,
                                                  const solve_options& o = {}) {
  if (o.batch == 0) apgen::detail::fail<invalid_argument>("maxflow solve_arm: batch must be positive");
  const vocabulary v = make_arm_vocabulary();
  if (model.vocab_size() != v.size())
    apgen::detail::fail<shape_mismatch>("maxflow solve_arm: the model scores ", model.vocab_size(),
                                        " tokens, the ARM vocabulary has ", v.size());
  std::vector<solve_result> out(graphs.size());
  for (std::size_t at = 0; at < graphs.size(); at += o.batch) {
    const std::size_t n = std::min(o.batch, graphs.size() - at);
    std::vector<std::vector<token_id>> state(n);
    std::vector<std::size_t> active;
    for (std::size_t r = 0; r < n; ++r) {
      state[r] = prompt(graphs[at + r]);
      active.push_back(r);
    }
    while (!active.empty()) {
      std::vector<std::size_t> capacities;
      std::size_t longest_write = 0;
      for (const std::size_t r : active) {
        const std::size_t write = capacity_for(graphs[at + r]) + row_headroom + 1; // and [END]
        capacities.push_back(state[r].size() + 1 + write);
        longest_write = std::max(longest_write, write);
      }
      canvas c(v, capacities);
      for (std::size_t k = 0; k < active.size(); ++k) {
        std::vector<token_id> row;
        for (const token_id t : state[active[k]]) row.push_back(arm_tokens::from_task(t));
        row.push_back(arm_tokens::sep);
        const std::size_t read = row.size();
        row.push_back(arm_tokens::mask);
        c.assign(k, row, read);
      }
      generator_options go{.seed = 0, .max_steps = static_cast<std::uint32_t>(longest_write)};
      go.encoder = row_encoder(arm_encoder{});
      auto gen = make_generator<edits::arm_append>(model, schedules::autoregressive<>(), go);
      (void)gen.generate(c);
      std::vector<std::size_t> still;
      for (std::size_t k = 0; k < active.size(); ++k) {
        const std::size_t r = active[k];
        auto& s = out[at + r];
        ++s.steps;
        const auto row = c.row(k);
        const std::size_t read = state[r].size() + 1;
        std::vector<token_id> written;
        bool ended = false, foreign = false;
        for (std::size_t i = read; i < row.size(); ++i) {
          if (row[i] == arm_tokens::end) {
            ended = true;
            break;
          }
          const token_id t = arm_tokens::to_task(row[i]);
          if (t < 0) {
            foreign = true;
            break;
          }
          written.push_back(t);
        }
        if (foreign || !ended) {
          s.reason = foreign ? stop_reason::length_limit : stop_reason::capacity;
          state[r] = std::move(written);
        } else if (written == state[r]) {
          s.reason = stop_reason::fixed_point;
        } else if (s.steps >= o.max_steps) {
          s.reason = stop_reason::step_limit;
          state[r] = std::move(written);
        } else {
          state[r] = std::move(written);
          still.push_back(r);
        }
      }
      active = std::move(still);
    }
    for (std::size_t r = 0; r < n; ++r) judge(graphs[at + r], state[r], out[at + r]);
  }
  return out;
}

} // namespace apgen::tasks::maxflow
