#pragma once
/// \file
/// A learned parity process: a one-layer transformer with local attention, trained with the AP-MDM process
/// objective on the oracle's transitions of every input of up to 5 bits, then run on inputs of any length.
///
/// Why this generalises. The oracle (tasks::parity::oracle) decides each position from what lies at most two positions
/// from it: remask a 0, delete a MASK, remask the leading pair of 1s (positions 1 and 2 after BOS). A model whose
/// attention is limited to a window of 2 sees exactly such a neighbourhood, so on a long row every position looks
/// like some position of a short one, and nothing about the row's length reaches it. Which short rows are enough:
///   - inputs of length 2 (the paper's 7 transitions) have no position beyond the leading pair, so a position with
///     bits on both sides and no BOS in sight is never seen; a model trained on them alone guesses there, and about
///     half the strings longer than 3 bits come out wrong (examples/05_learned_parity shows it);
///   - inputs of up to 5 bits hold every neighbourhood a window of 2 can see (a position 3 or more from BOS with two
///     bits on each side first appears at 5 bits). Trained on them, 12 of 12 seeds tried solve every string
///     (measured to 10,000 bits by examples/06_parity_length_generalisation); up to 3 bits, 9 of 12 do, up to 4
///     bits, 11 of 12: a neighbourhood left out is a guess.
/// The fixed points are part of the data: a learned generator stops when a step changes nothing, so the model must
/// learn to leave [BOS] and [BOS] 1 alone (record_options::skip_unchanged = false keeps those steps).
///
/// Usage:
///   const auto vocab = apgen::tasks::parity::make_vocabulary();
///   auto weights = apgen::tasks::parity::train_process_model(vocab, {});        // under a second
///   apgen::nn::transformer model(weights);
///   auto gen = apgen::tasks::parity::make_process_generator(model);
///   // canvas rows from tasks::parity::encode(vocab, bits), BOS locked; gen.generate(canvas)

#include <apgen/core/errors.hpp>
#include <apgen/core/rng.hpp>
#include <apgen/core/vocabulary.hpp>
#include <apgen/engine/concepts.hpp>
#include <apgen/engine/generator.hpp>
#include <apgen/nn/config.hpp>
#include <apgen/nn/transformer.hpp>
#include <apgen/nn/weights.hpp>
#include <apgen/schedules/any_process.hpp>
#include <apgen/tasks/parity/task.hpp>
#include <apgen/tasks/parity/teacher.hpp>
#include <apgen/train/objectives.hpp>
#include <apgen/train/trainer.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

namespace apgen::tasks::parity {

/// Every bit string with a length in [min_length, max_length], shorter first, each length in binary order.
[[nodiscard]] inline std::vector<std::vector<int>> all_inputs(std::size_t min_length, std::size_t max_length) {
  if (max_length > 20)
    apgen::detail::fail<invalid_argument>("parity all_inputs: ", max_length, " bits would make 2^", max_length,
                                          " strings");
  std::vector<std::vector<int>> out;
  for (std::size_t n = min_length; n <= max_length; ++n)
    for (std::size_t m = 0; m < (std::size_t{1} << n); ++m) {
      std::vector<int> bits(n);
      for (std::size_t i = 0; i < n; ++i) bits[i] = static_cast<int>((m >> (n - 1 - i)) & 1u);
      out.push_back(std::move(bits));
    }
  return out;
}

namespace detail {
/// A transformer config for vocabulary v with the given sizes (GELU, bidirectional, control heads).
[[nodiscard]] inline nn::transformer_config sized_config(const vocabulary& v, std::size_t d, std::size_t layers,
                                                         std::size_t heads, std::size_t ff) {
  return {.vocab_size = v.size(), .d_model = d, .n_layers = layers, .n_heads = heads, .d_ff = ff, .mask_id = v.mask()};
}

/// Trains fresh weights for `config` on `data` with the options `o` (batch capped at the data size, quiet); every
/// step is shown to `on_step` when given.
[[nodiscard]] inline nn::transformer_weights train_fresh(const nn::transformer_config& config,
                                                         std::vector<train::example> data, float init_std,
                                                         train::trainer_options o,
                                                         std::function<void(const train::step_stats&)> on_step) {
  auto w = nn::transformer_weights::random(config, o.seed, init_std);
  o.batch_size = std::min(o.batch_size, data.size());
  o.quiet = true;
  train::trainer t(w, std::move(data), o);
  if (on_step) t.on_step(std::move(on_step));
  t.run();
  return w;
}
} // namespace detail

/// The model: d = 16, one layer, two heads, GELU FFN of 32, attention window 2, control heads (2,4k parameters).
[[nodiscard]] inline nn::transformer_config process_model_config(const vocabulary& v) {
  auto c = detail::sized_config(v, 16, 1, 2, 32);
  c.attention_window = 2;
  return c;
}

/// How the process model is trained.
struct process_training {
  std::size_t min_input_length = 1;
  std::size_t max_input_length = 5; ///< 2 alone gives the paper's seven transitions (not enough, see \file)
  std::uint64_t seed = 0;           ///< initial weights and shuffle
  std::uint64_t steps = 3000;
  std::size_t batch_size = 64;
  double lr = 5e-3;
  float init_std = 0.2f;
};

/// The oracle's transitions of every input of the setting's lengths, fixed points included.
[[nodiscard]] inline std::vector<train::transition_record> process_records(const vocabulary& v,
                                                                           const process_training& s = {}) {
  return tasks::parity::teacher(v, all_inputs(s.min_input_length, s.max_input_length), {.skip_unchanged = false});
}

/// Trains the process model (AdamW, no weight decay, 20 warmup steps, constant learning rate). `on_step`, when
/// given, sees every step's statistics.
[[nodiscard]] inline nn::transformer_weights
train_process_model(const vocabulary& v, const process_training& s = {},
                    std::function<void(const train::step_stats&)> on_step = {}) {
  std::vector<train::example> data;
  for (const auto& r : process_records(v, s)) data.push_back(train::process_example(r, v.mask()));
  train::trainer_options o;
  o.batch_size = s.batch_size;
  o.steps = s.steps;
  o.seed = s.seed;
  o.schedule.base_lr = s.lr;
  o.schedule.warmup_steps = 20;
  o.adam.weight_decay = 0;
  return detail::train_fresh(process_model_config(v), std::move(data), s.init_std, o, std::move(on_step));
}

/// The AP-MDM generator for a process model: controls fire above 0.5, the row stops at a fixed point. Rows only
/// shrink, so a canvas sized to the input never overflows; a step cap guards against a model that loops. The
/// generator holds its own copy of the model (as make_generator does).
template <denoiser Model>
[[nodiscard]] auto make_process_generator(Model model, std::uint32_t max_steps = 1u << 20) {
  return make_generator(std::move(model), schedules::any_process<>(), {.max_steps = max_steps});
}

// ---- The ARM baseline: read the bits, then write the answer ----

/// MASK, BOS, "0", "1", "=" (ids 0..4): an ARM reads [BOS] b1 .. bn = and writes the parity bit.
[[nodiscard]] inline vocabulary make_arm_vocabulary() {
  return vocabulary({"0", "1", "="}, special_names{"[MASK]", "", "[BOS]", ""});
}

/// [BOS] b1 .. bn = (the ARM's prompt).
[[nodiscard]] inline std::vector<token_id> arm_prompt(const vocabulary& v, const std::vector<int>& bits) {
  auto t = encode(v, bits);
  t.push_back(v.id("="));
  return t;
}

/// The answer token: "1" when the number of ones is odd, else "0".
[[nodiscard]] inline token_id arm_answer(const vocabulary& v, const std::vector<int>& bits) {
  int ones = 0;
  for (int b : bits) ones += b ? 1 : 0;
  return v.id(ones % 2 ? "1" : "0");
}

/// A next-token example supervised on the answer only (the bits themselves are random, there is nothing to learn).
[[nodiscard]] inline train::example arm_example(const vocabulary& v, const std::vector<int>& bits) {
  auto clean = arm_prompt(v, bits);
  clean.push_back(arm_answer(v, bits));
  auto e = train::arm_example(clean);
  std::fill(e.targets.begin(), e.targets.end() - 1, -1);
  return e;
}

/// The baseline model: causal, d = 64, two layers, four heads, FFN 256, unlimited rotary attention, no controls.
[[nodiscard]] inline nn::transformer_config arm_model_config(const vocabulary& v) {
  auto c = detail::sized_config(v, 64, 2, 4, 256);
  c.causal = true;
  c.control_heads = false;
  return c;
}

/// How the baseline is trained: a curriculum of stages whose longest string grows by about 1.4x a stage, from
/// min_length + 1 up to max_length, each stage on `examples` fresh strings with lengths uniform in
/// [min_length, its cap]. Trained on all lengths at once the model learns nothing (the loss stays at ln 2: a parity
/// of many bits gives no gradient signal until the short ones are learned); the curriculum lets it learn the short
/// ones first.
struct arm_training {
  std::size_t min_length = 2, max_length = 100;
  std::size_t examples = 8000; ///< strings per stage
  std::uint64_t seed = 0;
  std::uint64_t steps = 6600; ///< over all stages, split evenly
  std::size_t batch_size = 32;
  double lr = 1e-3; ///< each stage: 50 warmup steps, then constant
};

/// The caps of the curriculum's stages (the longest string of each).
[[nodiscard]] inline std::vector<std::size_t> arm_curriculum(const arm_training& s) {
  std::vector<std::size_t> caps;
  for (std::size_t cap = std::max<std::size_t>(s.min_length + 1, 3);; cap = std::max(cap + 1, (cap * 7 + 4) / 5)) {
    caps.push_back(std::min(cap, s.max_length));
    if (cap >= s.max_length) break;
  }
  return caps;
}

/// Trains the baseline through the curriculum. `on_step` sees every step, numbered across stages.
[[nodiscard]] inline nn::transformer_weights
train_arm_model(const vocabulary& v, const arm_training& s = {},
                std::function<void(const train::step_stats&)> on_step = {}) {
  if (s.min_length < 1 || s.max_length <= s.min_length)
    apgen::detail::fail<invalid_argument>("arm_training: bad length range");
  const counter_rng rng(s.seed, rng_stream::user);
  const auto caps = arm_curriculum(s);
  auto w = nn::transformer_weights::random(arm_model_config(v), s.seed);
  std::uint64_t done = 0;
  for (std::size_t stage = 0; stage < caps.size(); ++stage) {
    std::vector<train::example> data;
    data.reserve(s.examples);
    const auto span = static_cast<std::uint32_t>(caps[stage] - s.min_length + 1),
               st = static_cast<std::uint32_t>(stage);
    for (std::size_t k = 0; k < s.examples; ++k) {
      std::vector<int> bits(s.min_length + rng.below(span, k, 0, st, 0));
      for (std::size_t i = 0; i < bits.size(); ++i)
        bits[i] = static_cast<int>(rng.below(2, k, static_cast<std::uint32_t>(i) + 1, st, 0));
      data.push_back(arm_example(v, bits));
    }
    train::trainer_options o;
    o.batch_size = std::min(s.batch_size, data.size());
    o.steps = std::max<std::uint64_t>(1, s.steps / caps.size());
    o.seed = s.seed + stage;
    o.quiet = true;
    o.schedule.base_lr = s.lr;
    o.schedule.warmup_steps = std::min<std::uint64_t>(50, o.steps);
    train::trainer t(w, std::move(data), o);
    if (on_step)
      t.on_step([&](const train::step_stats& st_) {
        auto shifted = st_;
        shifted.step += done;
        on_step(shifted);
      });
    t.run();
    done += o.steps;
  }
  return w;
}

} // namespace apgen::tasks::parity
