#pragma once
/// \file
/// The training loop: shuffled batches of examples, the batch gradient, global-norm clipping, AdamW with a
/// warmup/constant or cosine learning rate, evaluation every N steps, and checkpoints that hold the weights, the
/// optimiser state and the loop's position, so a resumed run continues exactly where it stopped. With the same
/// seed and thread count a run gives the same weights bit for bit (the batch gradient reduces in a fixed order and
/// the shuffle is a function of (seed, epoch)).

#include <apgen/core/errors.hpp>
#include <apgen/core/rng.hpp>
#include <apgen/draw/progress.hpp>
#include <apgen/io/safetensors.hpp>
#include <apgen/nn/checkpoint.hpp>
#include <apgen/nn/weights.hpp>
#include <apgen/train/batch_gradient.hpp>
#include <apgen/train/clip.hpp>
#include <apgen/train/lr_schedule.hpp>
#include <apgen/train/objectives.hpp>
#include <apgen/train/optimizer.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace apgen::train {

struct trainer_options {
  std::size_t batch_size = 32;
  std::uint64_t steps = 1000; ///< total optimiser steps of the run
  std::uint64_t seed = 0;     ///< the shuffle's seed
  lr_schedule schedule{};     ///< base_lr, warmup, constant or cosine
  adamw_options adam{};
  double clip_norm = 1.0;       ///< global gradient-norm limit; 0 turns clipping off
  std::uint64_t eval_every = 0; ///< 0: no evaluation during the run
  std::uint64_t checkpoint_every = 0;
  std::string checkpoint_path;  ///< where checkpoints go (overwritten each time)
  std::uint64_t log_every = 50; ///< plain log lines when stderr is not a terminal
  bool quiet = false;
  /// Keep freed memory in the process (glibc mallopt: no trimming, no mmap below 256 MB). The backward pass's
  /// Eigen temporaries are otherwise returned to the OS and page-faulted back every step, which halves training
  /// speed. This is process-wide; turn it off if the host application tunes malloc itself.
  bool tune_allocator = true;
};

/// What the loop reports at each step.
struct step_stats {
  std::uint64_t step = 0;
  batch_loss loss;
  double lr = 0, grad_norm = 0, tokens_per_second = 0;
};

/// A source of batches made on the fly (for data too large to hold, such as symmetry-augmented trajectories):
/// `source(step, size, batch)` fills `batch` (cleared) with `size` examples for optimiser step `step` (0-based). It
/// must be a function of (step, size) alone, so that a run resumed from a checkpoint draws the same batches.
using batch_source = std::function<void(std::uint64_t step, std::size_t size, std::vector<example>& batch)>;

class trainer {
public:
  /// Trains `weights` (owned by the caller, updated in place) on `data`, shuffled per epoch.
  trainer(nn::transformer_weights& weights, std::vector<example> data, trainer_options opt)
      : m_w(weights), m_grad(weights.config), m_data(std::move(data)), m_opt(std::move(opt)), m_adam(m_opt.adam) {
    if (m_data.empty()) apgen::detail::fail<invalid_argument>("trainer: no training examples");
    check_options();
    m_order.resize(m_data.size());
    shuffle();
  }

  /// Trains `weights` on the batches `source` makes (see batch_source).
  trainer(nn::transformer_weights& weights, batch_source source, trainer_options opt)
      : m_w(weights), m_grad(weights.config), m_source(std::move(source)), m_opt(std::move(opt)), m_adam(m_opt.adam) {
    if (!m_source) apgen::detail::fail<invalid_argument>("trainer: the batch source is empty");
    check_options();
  }

  /// Evaluation: called every eval_every steps with the step number.
  void on_eval(std::function<void(std::uint64_t)> f) { m_eval = std::move(f); }
  /// Called after every step (tests and examples watch the loss).
  void on_step(std::function<void(const step_stats&)> f) { m_on_step = std::move(f); }

  [[nodiscard]] std::uint64_t step() const noexcept { return m_step; }
  [[nodiscard]] const adamw& optimizer() const noexcept { return m_adam; }

  /// One optimiser step on the next batch.
  step_stats train_step() {
    m_batch.clear();
    if (m_source) {
      m_source(m_step, m_opt.batch_size, m_batch);
      if (m_batch.empty())
        apgen::detail::fail<invalid_argument>("trainer: the batch source made no examples for step ", m_step);
    }
    for (std::size_t i = 0; !m_source && i < m_opt.batch_size; ++i) {
      if (m_cursor == m_order.size()) {
        ++m_epoch;
        m_cursor = 0;
        shuffle();
      }
      m_batch.push_back(m_data[m_order[m_cursor++]]);
    }
    const auto t0 = std::chrono::steady_clock::now();
    step_stats s;
    s.loss = m_batch_gradient.compute(m_w, m_batch, m_grad);
    s.grad_norm = m_opt.clip_norm > 0 ? clip_grad_norm(m_params, m_opt.clip_norm) : grad_norm(m_params);
    s.lr = m_opt.schedule.at(m_adam.steps() + 1);
    if (std::isfinite(s.grad_norm)) m_adam.step(m_params, s.lr);
    ++m_step;
    s.step = m_step;
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    s.tokens_per_second = static_cast<double>(s.loss.tokens) / std::max(sec, 1e-9);
    return s;
  }

  /// Runs until opt.steps, with evaluation, checkpoints and progress reports.
  void run() {
    const auto start = std::chrono::steady_clock::now();
    const std::uint64_t first = m_step;
    // On a terminal a bar redrawn in place; elsewhere (a log file) plain lines every log_every steps.
    auto bar = draw::progress_bar::for_stderr(m_opt.steps, "train");
    const bool tty = bar.interactive();
    while (m_step < m_opt.steps) {
      const auto s = train_step();
      if (m_on_step) m_on_step(s);
      if (m_opt.eval_every && m_step % m_opt.eval_every == 0 && m_eval) m_eval(m_step);
      if (m_opt.checkpoint_every && m_step % m_opt.checkpoint_every == 0) save_checkpoint(m_opt.checkpoint_path);
      if (m_opt.quiet) continue;
      if (tty) {
        char note[96];
        std::snprintf(note, sizeof note, "loss %.4f  %.0f tok/s", s.loss.total, s.tokens_per_second);
        bar.update(s.step, note);
      } else {
        log_line(s, start, first);
      }
    }
    bar.finish();
  }

  /// Weights, optimiser state and loop position in one safetensors file.
  void save_checkpoint(const std::string& path) {
    auto v = nn::views_of(m_w);
    auto meta = m_w.config.to_metadata();
    m_adam.append_state(v.views, meta);
    meta["train.step"] = std::to_string(m_step);
    meta["train.epoch"] = std::to_string(m_epoch);
    meta["train.cursor"] = std::to_string(m_cursor);
    meta["train.seed"] = std::to_string(m_opt.seed);
    meta["train.examples"] = std::to_string(m_data.size()); // 0 for a batch source
    io::write_safetensors(path, std::span<const io::tensor_view>(v.views), meta);
  }

  /// Continues a run from a checkpoint written by save_checkpoint with the same data and options.
  void resume(const std::string& path) {
    const auto file = io::safetensors_file::read(path);
    auto count = [&](const char* key) -> std::uint64_t {
      auto it = file.metadata().find(key);
      if (it == file.metadata().end()) apgen::detail::fail<parse_error>(path, ": checkpoint has no \"", key, "\"");
      return std::stoull(it->second);
    };
    if (count("train.seed") != m_opt.seed || count("train.examples") != m_data.size())
      apgen::detail::fail<invalid_argument>(path, ": checkpoint was written with another seed or data set (seed ",
                                            count("train.seed"), ", ", count("train.examples"), " examples)");
    m_w = nn::load_transformer(file, path, "adam.");
    bind_parameters();
    m_adam.load_state(file, m_params);
    m_step = count("train.step");
    m_epoch = count("train.epoch");
    m_cursor = count("train.cursor");
    if (!m_source) shuffle();
  }

private:
  void check_options() {
    if (m_opt.batch_size == 0) apgen::detail::fail<invalid_argument>("trainer: batch size must be at least 1");
    m_opt.schedule.validate();
    if (m_opt.checkpoint_every && m_opt.checkpoint_path.empty())
      apgen::detail::fail<invalid_argument>("trainer: checkpoint_every is set but checkpoint_path is empty");
    if (m_opt.tune_allocator) keep_freed_memory();
    bind_parameters();
  }

  static void keep_freed_memory() {
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
  }

  void bind_parameters() {
    m_params.clear();
    std::vector<std::pair<std::string, std::span<float>>> values;
    m_w.for_each_tensor([&](const std::string& name, auto& t, std::size_t, std::size_t, nn::init_kind) {
      values.emplace_back(name, std::span<float>(t.data(), static_cast<std::size_t>(t.size())));
    });
    std::size_t i = 0;
    m_grad.for_each_tensor([&](const std::string& name, auto& t, std::size_t rows, std::size_t, nn::init_kind) {
      // Weight decay on matrices only: biases and norm weights are left alone, as is usual.
      const bool decay = rows > 1;
      m_params.push_back(
          {name, values[i].second, std::span<float>(t.data(), static_cast<std::size_t>(t.size())), decay});
      ++i;
    });
  }

  /// The epoch's order: a Fisher-Yates shuffle drawn from (seed, epoch), so a resumed run repeats it.
  void shuffle() {
    std::iota(m_order.begin(), m_order.end(), std::size_t{0});
    const counter_rng rng(m_opt.seed, rng_stream::user);
    for (std::size_t i = m_order.size(); i > 1; --i) {
      const auto j = rng.below(static_cast<std::uint32_t>(i), m_epoch, static_cast<std::uint32_t>(i), 0, 7);
      std::swap(m_order[i - 1], m_order[j]);
    }
  }

  void log_line(const step_stats& s, std::chrono::steady_clock::time_point start, std::uint64_t first) const {
    if (s.step % std::max<std::uint64_t>(1, m_opt.log_every) != 0 && s.step != m_opt.steps) return;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double per_step = elapsed / static_cast<double>(s.step - first);
    const double eta = per_step * static_cast<double>(m_opt.steps - s.step);
    std::fprintf(stderr,
                 "step %llu/%llu loss %.5f (token %.5f, remask %.5f, insert %.5f, delete %.5f) lr %.3g |g| %.3g %.0f "
                 "tok/s eta %.0fs\n",
                 static_cast<unsigned long long>(s.step), static_cast<unsigned long long>(m_opt.steps), s.loss.total,
                 s.loss.token, s.loss.remask, s.loss.insert, s.loss.erase, s.lr, s.grad_norm, s.tokens_per_second, eta);
  }

  nn::transformer_weights& m_w;
  nn::transformer_weights m_grad;
  std::vector<example> m_data;
  batch_source m_source;
  trainer_options m_opt;
  adamw m_adam;
  batch_gradient<float> m_batch_gradient;
  std::vector<parameter> m_params;
  std::vector<std::size_t> m_order;
  std::vector<example> m_batch;
  std::uint64_t m_step = 0, m_epoch = 0;
  std::size_t m_cursor = 0;
  std::function<void(std::uint64_t)> m_eval;
  std::function<void(const step_stats&)> m_on_step;
};

} // namespace apgen::train
