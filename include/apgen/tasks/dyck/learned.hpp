#pragma once
/// \file
/// A learned stochastic Dyck-k generator and its ARM baseline.
///   - The process model: a bidirectional transformer with control heads, trained with the AP-MDM objective on the
///     process oracle's transitions (tasks/dyck/process.hpp), then run with its control bits thresholded at 0.5 and
///     its token head sampled at temperature 1, so a run is a random draw; the moves it must learn are functions of
///     the row (a token's neighbours, and whether "$" is present), the draws are the only randomness.
///   - The ARM: a causal transformer of the same size trained by next-token prediction on words the same oracle
///     produced, [BOS] w [EOS], and sampled at temperature 1.
/// (Both samplers are parameters: examples/10_dyck_learned draws by nucleus sampling at p = 0.999.)
/// Both are judged by tasks::dyck::is_two_sided_dyck on what they write, and by coverage against count_words.
///
/// Usage:
///   const auto v = apgen::tasks::dyck::make_process_vocabulary(2);
///   auto w = apgen::tasks::dyck::train_process_model(v, {});
///   auto words = apgen::tasks::dyck::sample_process(apgen::nn::transformer(w), 2, 1000, 7);

#include <apgen/core/canvas.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/vocabulary.hpp>
#include <apgen/engine/concepts.hpp>
#include <apgen/engine/generator.hpp>
#include <apgen/nn/checkpoint.hpp>
#include <apgen/nn/config.hpp>
#include <apgen/nn/transformer.hpp>
#include <apgen/nn/weights.hpp>
#include <apgen/sampling/samplers.hpp>
#include <apgen/schedules/any_process.hpp>
#include <apgen/schedules/autoregressive.hpp>
#include <apgen/stopping/stop_rules.hpp>
#include <apgen/tasks/dyck/process.hpp>
#include <apgen/tasks/dyck/task.hpp>
#include <apgen/tasks/dyck/teacher.hpp>
#include <apgen/train/objectives.hpp>
#include <apgen/train/trainer.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace apgen::tasks::dyck {

/// The model size both generators share: width 64, three layers, four heads, FFN 128, rotary positions.
struct model_size {
  std::size_t d_model = 64, layers = 3, heads = 4, d_ff = 128;
};

/// The process model for make_process_vocabulary(k): bidirectional, with control heads.
[[nodiscard]] inline nn::transformer_config process_model_config(const vocabulary& v, const model_size& s = {}) {
  return {.vocab_size = v.size(),
          .d_model = s.d_model,
          .n_layers = s.layers,
          .n_heads = s.heads,
          .d_ff = s.d_ff,
          .mask_id = v.mask()};
}

/// MASK, BOS, EOS, then the 2k letters: the ARM's vocabulary (letter ids are one above make_vocabulary(k)'s).
[[nodiscard]] inline vocabulary make_arm_vocabulary(std::size_t k) {
  if (k == 0 || k > max_pairs)
    apgen::detail::fail<invalid_argument>("dyck: k must be in [1, ", max_pairs, "], got ", k);
  static constexpr const char* symbols[] = {"(", ")", "[", "]", "{", "}", "<", ">"};
  return vocabulary(std::vector<std::string>(symbols, symbols + 2 * k), special_names{"[MASK]", "", "[BOS]", "[EOS]"});
}

/// The ARM model for make_arm_vocabulary(k): causal, no control heads.
[[nodiscard]] inline nn::transformer_config arm_model_config(const vocabulary& v, const model_size& s = {}) {
  auto c = process_model_config(v, s);
  c.causal = true;
  c.control_heads = false;
  return c;
}

/// How a model is trained: `trajectories` oracle runs (the process model learns their transitions; the ARM learns
/// their final words), AdamW with a cosine schedule.
struct training {
  process_options data{};
  std::size_t trajectories = 8000;
  std::uint64_t seed = 0; ///< the oracle's draws, the initial weights and the shuffle
  std::uint64_t steps = 40000;
  std::size_t batch_size = 64;
  double lr = 2e-3, min_lr = 1e-4;
  float init_std = 0.1f;
  model_size size{};
};

/// The process oracle's transitions of `s.trajectories` runs, fixed points included.
[[nodiscard]] inline std::vector<train::transition_record> process_records(const vocabulary& v, const training& s) {
  std::vector<train::transition_record> out;
  process_teacher(v, s.data, s.trajectories, s.seed, [&](train::transition_record&& r) { out.push_back(std::move(r)); },
                  {.skip_unchanged = false});
  return out;
}

/// The words of `count` oracle runs (row keys first .. first + count - 1), in letters of make_vocabulary(k).
[[nodiscard]] inline std::vector<std::vector<token_id>> oracle_words(const process_options& o, std::size_t count,
                                                                     std::uint64_t seed, std::uint64_t first = 0);

namespace detail {
[[nodiscard]] inline train::trainer_options trainer_setup(const training& s, std::size_t examples) {
  train::trainer_options o;
  o.batch_size = std::min(s.batch_size, examples);
  o.steps = s.steps;
  o.seed = s.seed;
  o.schedule.base_lr = s.lr;
  o.schedule.min_lr = s.min_lr;
  o.schedule.warmup_steps = std::min<std::uint64_t>(100, s.steps);
  o.schedule.total_steps = s.steps;
  o.schedule.kind = train::lr_kind::cosine;
  o.adam.weight_decay = 0;
  o.quiet = true;
  return o;
}

[[nodiscard]] inline nn::transformer_weights train_on(const nn::transformer_config& config, const training& s,
                                                      std::vector<train::example> data,
                                                      const std::function<void(const train::step_stats&)>& on_step) {
  auto w = nn::transformer_weights::random(config, s.seed, s.init_std);
  const auto options = trainer_setup(s, data.size());
  train::trainer t(w, std::move(data), options);
  if (on_step) t.on_step(on_step);
  t.run();
  return w;
}
} // namespace detail

/// Trains the process model for `v` = make_process_vocabulary(s.data.pairs).
[[nodiscard]] inline nn::transformer_weights
train_process_model(const vocabulary& v, const training& s = {},
                    const std::function<void(const train::step_stats&)>& on_step = {}) {
  const auto schema = std::make_shared<const feature_schema>(process_encoder{s.data.pairs}.schema());
  std::vector<train::example> data;
  for (const auto& r : process_records(v, s)) data.push_back(train::process_example(r, v.mask(), 1.0, 1.0, schema));
  return detail::train_on(process_model_config(v, s.size), s, std::move(data), on_step);
}

/// Trains the ARM for `v` = make_arm_vocabulary(s.data.pairs) on the words of the same oracle runs.
[[nodiscard]] inline nn::transformer_weights
train_arm_model(const vocabulary& v, const training& s = {},
                const std::function<void(const train::step_stats&)>& on_step = {}) {
  const token_id bos = v.require_bos("dyck arm"), eos = *v.eos();
  std::vector<train::example> data;
  double targets = 0;
  for (const auto& w : oracle_words(s.data, s.trajectories, s.seed)) {
    std::vector<token_id> row{bos};
    for (const token_id x : w) row.push_back(x + 1);
    row.push_back(eos);
    data.push_back(train::arm_example(row));
    targets += static_cast<double>(row.size() - 1);
  }
  // The loss averages over an example's positions, so without a weight an empty word's one EOS would count as much
  // as a 32-letter word's 33 predictions, and the model would learn to stop far too often. Weighting each example
  // by its number of targets (over the mean) makes the objective the words' likelihood.
  const double mean_targets = targets / static_cast<double>(data.size());
  for (auto& e : data) e.token_weight = static_cast<double>(e.targets.size()) / mean_targets;
  return detail::train_on(arm_model_config(v, s.size), s, std::move(data), on_step);
}

/// Loads a saved model and checks it is the one `want` describes (vocabulary, mask, causal, control heads): a
/// file of another model is refused with shape_mismatch naming the field.
[[nodiscard]] inline nn::transformer_weights load_model(const std::string& path, const nn::transformer_config& want) {
  nn::transformer_weights w = nn::load_transformer(path);
  const auto& got = w.config;
  auto differs = [&](const char* field, auto file, auto expected) {
    apgen::detail::fail<shape_mismatch>(path, ": not this Dyck model: ", field, " is ", file, ", expected ", expected);
  };
  if (got.vocab_size != want.vocab_size) differs("vocab_size", got.vocab_size, want.vocab_size);
  if (got.mask_id != want.mask_id) differs("mask_id", got.mask_id, want.mask_id);
  if (got.causal != want.causal) differs("causal", got.causal, want.causal);
  if (got.control_heads != want.control_heads) differs("control_heads", got.control_heads, want.control_heads);
  return w;
}

/// One generated word and how its run ended.
struct sample {
  std::vector<token_id> word; ///< letters in make_vocabulary(k) ids; empty unless finished
  bool finished = false;      ///< the run ended as the process ends ([BOS] $ w / EOS), not at a cap or malformed
  stop_reason reason = stop_reason::running;
  std::uint32_t steps = 0;
  [[nodiscard]] bool valid(std::size_t k) const { return finished && is_two_sided_dyck(word, k); }
};

/// Where runs start and how far they may go.
struct sampling_options {
  std::size_t batch = 256;
  std::size_t max_letters = 256;  ///< rows are sized for words this long; a run that outgrows it stops (capacity)
  std::uint32_t max_steps = 2000; ///< step cap of one run
  std::uint64_t first_key = 0;    ///< row key of the first sample (samples are independent of `batch`)
  std::vector<std::vector<token_id>> starts; ///< when given, run k starts from [BOS] starts[k % size] (letters)
  /// Process runs only: the token pass draws "$" at the first gap alone (process_encoder); off, the model may put
  /// it anywhere (and a row with "$" elsewhere is not finished).
  bool end_only_first = true;
};

namespace detail {
/// The start word of run `run` (empty without starts), checked: letters of k pairs, at most `room` of them.
[[nodiscard]] inline std::span<const token_id> start_word(const sampling_options& o, std::size_t run, std::size_t k,
                                                          std::size_t room, const char* who) {
  if (o.starts.empty()) return {};
  const std::size_t index = run % o.starts.size();
  const auto& w = o.starts[index];
  if (w.size() > room)
    apgen::detail::fail<invalid_argument>("dyck ", who, ": start word ", index, " has ", w.size(),
                                          " letters, more than the rows leave room for (", room, ")");
  for (const token_id x : w)
    if (x < first_letter || x >= hole_token(k))
      apgen::detail::fail<invalid_token>("dyck ", who, ": start word ", index, " holds token ", x,
                                         ", not a letter of k = ", k);
  return w;
}
} // namespace detail

/// `count` runs of the process under `model` (a process_oracle, or a model of process_model_config) from [BOS],
/// or from the words in `o.starts`; control bits fire above 0.5, tokens are chosen by `sampler` within the
/// process's token sets (process_encoder, unless o.end_only_first is off). A row that ends
/// anywhere but the process's fixed point, or in a row the process cannot reach, is not finished.
template <denoiser Model, class Sampler = sampling::temperature>
[[nodiscard]] std::vector<sample> sample_process(const Model& model, std::size_t k, std::size_t count,
                                                 std::uint64_t seed, const sampling_options& o = {},
                                                 Sampler sampler = Sampler(1.0)) {
  const vocabulary v = make_process_vocabulary(k);
  generator_options go{.seed = seed, .overflow = overflow_policy::stop_row, .max_steps = o.max_steps};
  if (o.end_only_first) go.encoder = row_encoder(process_encoder{k});
  auto gen = make_generator(model, schedules::any_process<Sampler>(0.5, sampler), go);
  std::vector<sample> out(count);
  for (std::size_t at = 0; at < count; at += o.batch) {
    const std::size_t n = std::min(o.batch, count - at);
    canvas c(v, n, process_capacity(o.max_letters));
    for (std::size_t r = 0; r < n; ++r) {
      std::vector<token_id> row{1};
      for (const token_id x : detail::start_word(o, at + r, k, o.max_letters, "sample_process")) row.push_back(x);
      c.assign(r, row, 1);
      c.set_row_key(r, o.first_key + at + r);
    }
    const auto result = gen.generate(c);
    for (std::size_t r = 0; r < n; ++r) {
      auto& s = out[at + r];
      s.reason = result.rows[r].reason;
      s.steps = result.rows[r].steps;
      const auto row = c.row(r);
      bool done = false;
      try {
        done = s.reason == stop_reason::fixed_point && process_phase_of(row, k) == process_phase::done;
      } catch (const invalid_token&) {
        done = false; // the model wrote a row the process never reaches
      }
      if (done) {
        s.finished = true;
        s.word = process_word(row, k);
      }
    }
  }
  return out;
}

/// `count` ARM samples from [BOS] (or [BOS] followed by a word of `o.starts`, which the ARM continues): tokens by
/// `sampler` until EOS. A row that fills its capacity without EOS is not finished. The word is the whole row
/// after BOS, start included.
template <denoiser Model, class Sampler = sampling::temperature>
[[nodiscard]] std::vector<sample> sample_arm(const Model& model, std::size_t k, std::size_t count, std::uint64_t seed,
                                             const sampling_options& o = {}, Sampler sampler = Sampler(1.0)) {
  const vocabulary v = make_arm_vocabulary(k);
  const token_id eos = *v.eos();
  auto gen = make_generator<edits::arm_append>(model, schedules::autoregressive<Sampler>(sampler),
                                               generator_options{.seed = seed, .max_steps = o.max_steps});
  std::vector<sample> out(count);
  for (std::size_t at = 0; at < count; at += o.batch) {
    const std::size_t n = std::min(o.batch, count - at);
    canvas c(v, n, o.max_letters + 2);
    for (std::size_t r = 0; r < n; ++r) {
      std::vector<token_id> row{*v.bos()};
      for (const token_id x : detail::start_word(o, at + r, k, o.max_letters - 1, "sample_arm")) row.push_back(x + 1);
      const std::size_t prompt = row.size();
      row.push_back(v.mask());
      c.assign(r, row, prompt);
      c.set_row_key(r, o.first_key + at + r);
    }
    const auto result = gen.generate(c);
    for (std::size_t r = 0; r < n; ++r) {
      auto& s = out[at + r];
      s.reason = result.rows[r].reason;
      s.steps = result.rows[r].steps;
      const auto row = c.row(r);
      if (row.size() >= 2 && row.back() == eos) {
        s.finished = true;
        for (std::size_t i = 1; i + 1 < row.size(); ++i) s.word.push_back(row[i] - 1);
      }
    }
  }
  return out;
}

inline std::vector<std::vector<token_id>> oracle_words(const process_options& o, std::size_t count, std::uint64_t seed,
                                                       std::uint64_t first) {
  const vocabulary v = make_process_vocabulary(o.pairs);
  sampling_options so;
  so.max_letters = o.max_length;
  so.first_key = first;
  std::vector<std::vector<token_id>> out;
  out.reserve(count);
  for (auto& s : sample_process(process_oracle(v, o), o.pairs, count, seed, so, sampling::greedy{})) {
    if (!s.finished)
      apgen::detail::fail<invalid_argument>("dyck oracle_words: an oracle run did not finish (", to_string(s.reason),
                                            ")");
    out.push_back(std::move(s.word));
  }
  return out;
}

} // namespace apgen::tasks::dyck
