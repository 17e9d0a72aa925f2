#pragma once
/// \file
/// The learned Sudoku process: the transformer that reads a state (task.hpp) and writes the teacher's next step,
/// and its training data: the teacher's records of the training puzzles, each draw under a fresh symmetry of the
/// group, made on the fly (direct_records) so that the model never sees the same layout twice and the 100 puzzles
/// stand for their whole orbits. The model reads each slot's token plus the state encoder's seven feature embeddings
/// (row, column, box, value-or-note slot, token kind, digit, depth relation), so the peer structure is visible
/// without 1-D rotary positions; its token choice
/// is restricted per slot by the state encoder's allowed sets, in training (the loss) as in generation.

#include <apgen/core/errors.hpp>
#include <apgen/core/rng.hpp>
#include <apgen/nn/checkpoint.hpp>
#include <apgen/nn/config.hpp>
#include <apgen/nn/transformer.hpp>
#include <apgen/tasks/sudoku/grid.hpp>
#include <apgen/tasks/sudoku/solver.hpp>
#include <apgen/tasks/sudoku/symmetry.hpp>
#include <apgen/tasks/sudoku/task.hpp>
#include <apgen/tasks/sudoku/teacher.hpp>
#include <apgen/train/objectives.hpp>
#include <apgen/train/trainer.hpp>

#include <Eigen/Cholesky>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace apgen::tasks::sudoku {

/// The model's size and the state's depth bound.
struct learned_setup {
  std::size_t max_depth = default_max_depth;
  std::size_t d_model = 128, n_layers = 4, n_heads = 4, d_ff = 512;
  /// Rotary positions: off, since the features say where a slot sits and the slots' 1-D order means nothing.
  bool rope = false;
  /// Start heads 0, 1 and 2 of every layer attending within the slot's row, column and box (initial_weights).
  bool peer_heads = true;
  /// With peer_heads: how much larger than the other embeddings the row, column and box embeddings start.
  double structure_scale = 15.0;
  /// How much larger than the transformer's default (standard deviation 0.02) the token and the other feature
  /// embeddings start: AdamW moves every weight by about the learning rate per step, so small embeddings are
  /// rewritten within tens of steps.
  double embedding_scale = 15.0;
  /// The weight of the remask loss beside the token loss (train::process_example): the remask loss is a mean over
  /// all 162 slots, most of them decided or notes whose bit is trivially right, while the token loss is a mean over
  /// the few slots unmasked, so at weight 1 the bits that choose which cells to write count for little.
  double control_weight = 1.0;
  /// Dense token supervision: in a state that agrees with the solution (every decided cell holds its solution
  /// digit), every undecided value slot the step keeps masked is also a token target, the solution digit at the
  /// state's depth. The process never reads the token head where the remask bit keeps a MASK (Algorithm 1), so the
  /// process taught is the same; the token head is taught the digit of every open cell instead of the few the step
  /// writes (about 50 targets a state instead of 5), and the remask head then only has to learn which of them the
  /// step may write.
  bool solution_targets = false;
  /// A factor on the remask loss at the slots a step writes (MASKs the teacher unmasks: its fills, guesses and
  /// notes), beside 1 at every other slot. A step writes about 5 of the 50-odd open slots, so a model that keeps
  /// every open slot masked is right on most of them; this weighs the step's decisions up (loss.hpp).
  double write_weight = 1.0;
};

/// The transformer configuration for `s`: bidirectional, control heads on, the state encoder's four features.
[[nodiscard]] inline nn::transformer_config model_config(const learned_setup& s = {}) {
  nn::transformer_config c;
  c.vocab_size = state_tokens(s.max_depth).size();
  c.d_model = s.d_model;
  c.n_layers = s.n_layers;
  c.n_heads = s.n_heads;
  c.d_ff = s.d_ff;
  c.feature_vocab_sizes = state_encoder(s.max_depth).schema().feature_vocab_sizes;
  c.causal = false;
  c.control_heads = true;
  c.mask_id = state_tokens::mask();
  c.rope = s.rope;
  c.validate();
  return c;
}

/// The weights a training run starts from: random (seed `seed`) with the embeddings s.embedding_scale times the
/// default size (the row, column and box ones s.structure_scale times), and with `s.peer_heads` the query and key rows
/// of heads 0, 1 and 2 of every layer set so that, at the start, a slot attends mostly to the slots of its own row,
/// column and box. Every rule of the process reads a cell's peers, and a randomly initialised model spends its first
/// tens of thousands of steps finding them (the plateau learned Sudoku models are known for); this starts it there,
/// as a recurrent relational network's fixed peer graph does, but only as an initialisation: training may move it.
/// How: with E the 9 x d embedding table of the feature (row, column or box), M = (E E^T)^-1 E maps each embedding to
/// its one-hot index; the head's first nine query and key rows are g M, with g chosen so that a peer's score
/// (q . k / sqrt(head_dim)) exceeds a non-peer's by about 4 on the first layer's normalised input.
[[nodiscard]] inline nn::transformer_weights initial_weights(const learned_setup& s, std::uint64_t seed) {
  auto w = nn::transformer_weights::random(model_config(s), seed);
  const auto scale = static_cast<float>(s.embedding_scale);
  w.tok_embed *= scale;
  for (auto& e : w.feat_embed) e *= scale;
  if (!s.peer_heads) return w;
  const std::size_t d = s.d_model, dh = d / s.n_heads, features = 3;
  if (s.n_heads < features || dh < 9)
    apgen::detail::fail<invalid_argument>("sudoku model: peer heads need 3 heads of at least 9 dimensions, got ",
                                          s.n_heads, " heads of ", dh);
  // The row, column and box embeddings start s.structure_scale times larger than the others, so that the optimiser's
  // first steps (AdamW moves every weight by about the learning rate) do not wash out the codes the heads read.
  // The first layer's input is then the sum of three embeddings of standard deviation 0.02 * structure_scale and
  // five of 0.02 (nn::transformer_weights::random), which layer normalisation divides by its standard deviation.
  for (std::size_t f = 0; f < features; ++f)
    w.feat_embed[f] *= static_cast<float>(s.structure_scale / s.embedding_scale);
  const double input_scale =
      0.02 * std::sqrt(3.0 * s.structure_scale * s.structure_scale + 5.0 * s.embedding_scale * s.embedding_scale);
  const double target = std::sqrt(4.0 * std::sqrt(static_cast<double>(dh))); // q . k = 4 sqrt(dh) for peers
  const auto g = static_cast<float>(input_scale * target);
  for (std::size_t f = 0; f < features; ++f) {
    const Eigen::MatrixXf e = w.feat_embed[f];          // 9 x d
    const Eigen::MatrixXf gram = e * e.transpose();     // 9 x 9
    const Eigen::MatrixXf m = gram.ldlt().solve(e) * g; // 9 x d
    for (auto& layer : w.layers) {
      const auto q = static_cast<Eigen::Index>(f * dh), k = static_cast<Eigen::Index>(d + f * dh);
      layer.qkv_w.middleRows(q, 9) = m;
      layer.qkv_w.middleRows(k, 9) = m;
    }
  }
  return w;
}

/// Reads a learned Sudoku model from `path` and checks that it reads and writes these states: its vocabulary,
/// features, MASK id, bidirectional attention and control heads must be those of model_config(s) (its width and
/// depth are the file's own). Throws what load_transformer throws for a malformed or truncated file, and
/// shape_mismatch naming the first field that differs for a model of another task or another state layout.
[[nodiscard]] inline nn::transformer_weights load_model(const std::string& path, const learned_setup& s = {}) {
  nn::transformer_weights w = nn::load_transformer(path, "adam.");
  const nn::transformer_config want = model_config(s);
  const auto& got = w.config;
  auto differs = [&](const char* field, const auto& file, const auto& expected) {
    apgen::detail::fail<shape_mismatch>(path, ": not a Sudoku state model: ", field, " is ", file, ", the states need ",
                                        expected);
  };
  if (got.vocab_size != want.vocab_size) differs("vocab_size", got.vocab_size, want.vocab_size);
  if (got.feature_vocab_sizes != want.feature_vocab_sizes) {
    auto listed = [](const std::vector<std::size_t>& v) {
      std::string out = "{";
      for (std::size_t k = 0; k < v.size(); ++k) {
        if (k) out += ',';
        out += std::to_string(v[k]);
      }
      return out + "}";
    };
    differs("feature_vocab_sizes", listed(got.feature_vocab_sizes), listed(want.feature_vocab_sizes));
  }
  if (got.mask_id != want.mask_id) differs("mask_id", got.mask_id, want.mask_id);
  if (got.causal != want.causal) differs("causal", got.causal, want.causal);
  if (got.control_heads != want.control_heads) differs("control_heads", got.control_heads, want.control_heads);
  if (got.rope != want.rope) differs("rope", got.rope, want.rope);
  return w;
}

/// The dense token targets of learned_setup::solution_targets on one process example of a puzzle with solution
/// `solution`: nothing when the example's state disagrees with the solution somewhere (a wrong branch).
inline void add_solution_targets(train::example& ex, const grid& solution, const state_tokens& tokens) {
  for (std::size_t i = 0; i < cells; ++i) {
    const token_id t = ex.input[2 * i];
    if (t != state_tokens::mask() && tokens.decode(t).digit != solution[i]) return;
  }
  const std::size_t depth = open_depth(ex.input, tokens);
  for (std::size_t i = 0; i < cells; ++i)
    if (ex.input[2 * i] == state_tokens::mask() && ex.targets[2 * i] < 0)
      ex.targets[2 * i] = tokens.fill(solution[i], depth);
}

/// A batch source for train::trainer: example k of step s is one record, drawn uniformly, of the teacher's
/// trajectory of one training puzzle (drawn uniformly) under one symmetry (drawn uniformly from the group); all three
/// draws are functions of (seed, s, k), so a resumed run sees the same batches.
[[nodiscard]] inline train::batch_source symmetry_augmented_source(std::vector<grid> puzzles, std::uint64_t seed,
                                                                   const learned_setup& s = {}) {
  if (puzzles.empty()) apgen::detail::fail<invalid_argument>("sudoku training: no training puzzles");
  // Solved once here; a symmetry maps a puzzle's unique solution to its image's, so no draw solves again.
  std::vector<grid> solutions(puzzles.size());
  for (std::size_t k = 0; k < puzzles.size(); ++k) {
    std::string where = "training puzzle "; // built with += : g++ 12 -O3 reports a false -Wrestrict otherwise
    where += std::to_string(k + 1);
    solutions[k] = unique_solution(puzzles[k], where);
  }
  const state_encoder encoder(s.max_depth);
  auto schema = std::make_shared<const feature_schema>(encoder.schema());
  return [puzzles = std::move(puzzles), solutions = std::move(solutions), seed, encoder, schema,
          control_weight = s.control_weight, solution_targets = s.solution_targets,
          write_weight = s.write_weight](std::uint64_t step, std::size_t size, std::vector<train::example>& batch) {
    const counter_rng rng(seed, rng_stream::user);
    std::vector<train::transition_record> records;
    grid p{}, solution{};
    for (std::size_t k = 0; k < size; ++k) {
      const auto key = static_cast<std::uint32_t>(k);
      // A draw whose trajectory needs more depth than the vocabulary names (the branching tie-break follows the
      // layout, so one symmetry of a puzzle can search deeper than another) is drawn again with the next attempt
      // number: the batch stays a function of (seed, step, k).
      for (std::uint32_t attempt = 0;; ++attempt) {
        if (attempt == 64)
          apgen::detail::fail<capacity_exceeded>("sudoku training: 64 draws in a row need more than depth ",
                                                 encoder.tokens().max_depth(), "; raise learned_setup::max_depth");
        const std::size_t which = rng.below(static_cast<std::uint32_t>(puzzles.size()), step, key, attempt, 0);
        // The symmetry from a generator seeded by two more draws: std::shuffle needs a URBG.
        const auto a = static_cast<std::uint64_t>(rng.uniform(step, key, attempt, 1) * 4294967296.0);
        const auto b = static_cast<std::uint64_t>(rng.uniform(step, key, attempt, 2) * 4294967296.0);
        std::mt19937_64 urbg(a << 32 | b);
        const symmetry sym = random_symmetry(urbg);
        p = sym.apply(puzzles[which]);
        solution = sym.apply(solutions[which]);
        records.clear();
        try {
          direct_records(p, encoder, [&](train::transition_record&& r) { records.push_back(std::move(r)); });
          break;
        } catch (const capacity_exceeded&) {
        }
      }
      const std::size_t pick = rng.below(static_cast<std::uint32_t>(records.size()), step, key, 0, 3);
      batch.push_back(train::process_example(records[pick], state_tokens::mask(), 1.0, control_weight, schema));
      if (solution_targets) add_solution_targets(batch.back(), solution, encoder.tokens());
      if (write_weight != 1.0) {
        auto& ex = batch.back();
        ex.control_position_weights.assign(ex.input.size(), 1.0f);
        for (std::size_t i = 0; i < ex.input.size(); ++i)
          if (ex.input[i] == state_tokens::mask() && ex.remask[i] == 0)
            ex.control_position_weights[i] = static_cast<float>(write_weight);
      }
    }
  };
}

} // namespace apgen::tasks::sudoku
