#pragma once
/// \file
/// The learned Sudoku process: the transformer that reads a state (task.hpp) and writes the teacher's next step,
/// and its training data: the teacher's records of the training puzzles, each draw under a fresh symmetry of the
/// group, made on the fly (direct_records) so that the model never sees the same layout twice and the 100 puzzles
/// stand for their whole orbits. The model reads each slot's token plus four feature embeddings (row, column, box,
/// value-or-note slot), so the peer structure is visible without relying on 1-D rotary positions; its token choice
/// is restricted per slot by the state encoder's allowed sets, in training (the loss) as in generation.

#include <apgen/core/errors.hpp>
#include <apgen/core/rng.hpp>
#include <apgen/nn/config.hpp>
#include <apgen/nn/transformer.hpp>
#include <apgen/tasks/sudoku/grid.hpp>
#include <apgen/tasks/sudoku/solver.hpp>
#include <apgen/tasks/sudoku/symmetry.hpp>
#include <apgen/tasks/sudoku/task.hpp>
#include <apgen/tasks/sudoku/teacher.hpp>
#include <apgen/train/objectives.hpp>
#include <apgen/train/trainer.hpp>

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
  c.validate();
  return c;
}

/// A batch source for train::trainer: example k of step s is one record, drawn uniformly, of the teacher's
/// trajectory of one training puzzle (drawn uniformly) under one symmetry (drawn uniformly from the group); all three
/// draws are functions of (seed, s, k), so a resumed run sees the same batches.
[[nodiscard]] inline train::batch_source symmetry_augmented_source(std::vector<grid> puzzles, std::uint64_t seed,
                                                                   const learned_setup& s = {}) {
  if (puzzles.empty()) apgen::detail::fail<invalid_argument>("sudoku training: no training puzzles");
  for (std::size_t k = 0; k < puzzles.size(); ++k) {
    std::string where = "training puzzle "; // built with += : g++ 12 -O3 reports a false -Wrestrict otherwise
    where += std::to_string(k + 1);
    (void)unique_solution(puzzles[k], where);
  }
  const state_encoder encoder(s.max_depth);
  auto schema = std::make_shared<const feature_schema>(encoder.schema());
  return [puzzles = std::move(puzzles), seed, encoder, schema](std::uint64_t step, std::size_t size,
                                                               std::vector<train::example>& batch) {
    const counter_rng rng(seed, rng_stream::user);
    std::vector<train::transition_record> records;
    for (std::size_t k = 0; k < size; ++k) {
      const auto key = static_cast<std::uint32_t>(k);
      const std::size_t which = rng.below(static_cast<std::uint32_t>(puzzles.size()), step, key, 0, 0);
      // The symmetry from a generator seeded by two more draws: std::shuffle needs a URBG.
      const auto a = static_cast<std::uint64_t>(rng.uniform(step, key, 0, 1) * 4294967296.0);
      const auto b = static_cast<std::uint64_t>(rng.uniform(step, key, 0, 2) * 4294967296.0);
      std::mt19937_64 urbg(a << 32 | b);
      const grid p = random_symmetry(urbg).apply(puzzles[which]);
      records.clear();
      direct_records(p, encoder, [&](train::transition_record&& r) { records.push_back(std::move(r)); });
      const std::size_t pick = rng.below(static_cast<std::uint32_t>(records.size()), step, key, 0, 3);
      batch.push_back(train::process_example(records[pick], state_tokens::mask(), 1.0, 1.0, schema));
    }
  };
}

} // namespace apgen::tasks::sudoku
