// One training step of the transformer: train::batch_gradient::compute (forward, loss and backward of every row,
// gradients reduced over the threads) on a batch of 64 MDM examples, d=128, 4 layers, 4 heads, FFN 512, V=32,
// rows of L = 81 (Sudoku-sized) and 324 tokens, with 1 and 2 OpenMP threads. No optimizer step is timed.
// Counters: tokens_per_s (input tokens of the batch per second), GFLOP_per_s (3x the forward's 2mnk products:
// forward + backward; attention and heads included, embeddings, norms, softmax and rotary not counted),
// mallocs_per_step (every malloc of the process in steady state, Eigen's temporaries included), peak_rss_MB.
// Like the trainer (trainer_options::tune_allocator), main() first sets glibc's mallopt(M_MMAP_THRESHOLD, 256 MiB)
// and mallopt(M_TRIM_THRESHOLD, 512 MiB), so freed memory stays in the process between steps.
// bench/compare_training_pytorch.py runs each configuration in its own process beside PyTorch's training step.
#include <apgen/train/batch_gradient.hpp>
#include <apgen/train/objectives.hpp>

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <malloc.h>
#include <sys/resource.h>

#include "process_stats.hpp"

namespace {

constexpr std::size_t batch_size = 64;

apgen::nn::transformer_config bench_config() {
  // Control heads present (as the default config), unsupervised by MDM: their loss and gradient are zero.
  return {.vocab_size = 32,
          .d_model = 128,
          .n_layers = 4,
          .n_heads = 4,
          .d_ff = 512,
          .act = apgen::nn::activation::gelu,
          .causal = false,
          .control_heads = true,
          .mask_id = 0};
}

// 2mnk over every product of one forward pass of `batch` rows of length L (as bench_transformer.cpp and
// tools/reference_transformer.py's forward_flops count them).
double forward_flops(const apgen::nn::transformer_config& c, std::size_t L, std::size_t batch) {
  const double l = static_cast<double>(L), d = static_cast<double>(c.d_model), ff = static_cast<double>(c.d_ff);
  const double mlp = c.act == apgen::nn::activation::swiglu ? 3 : 2;
  const double per_layer = 2 * l * d * 3 * d + 2 * l * d * d + 2 * mlp * l * d * ff + 2 * 2 * l * l * d;
  const double heads = 2 * l * d * static_cast<double>(c.vocab_size) + (c.control_heads ? 2 * l * d * 3 : 0);
  return static_cast<double>(batch) * (static_cast<double>(c.n_layers) * per_layer + heads);
}

// 64 MDM examples: clean rows of non-MASK tokens, each position masked with probability t ~ U(0, 1] per row.
std::vector<apgen::train::example> mdm_batch(const apgen::nn::transformer_config& c, std::size_t L) {
  std::vector<apgen::train::example> batch;
  std::uint64_t s = 0x9E3779B97F4A7C15ull ^ L;
  for (std::size_t r = 0; r < batch_size; ++r) {
    std::vector<apgen::token_id> clean(L);
    for (auto& t : clean) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      t = static_cast<apgen::token_id>(1 + (s >> 33) % (c.vocab_size - 1));
    }
    batch.push_back(apgen::train::mdm_example(clean, c.mask_id, 42, r));
  }
  return batch;
}

void BM_train_step(benchmark::State& state) {
  const auto L = static_cast<std::size_t>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  set_threads(threads);
  const auto cfg = bench_config();
  const auto w = apgen::nn::transformer_weights::random(cfg, 1);
  const auto batch = mdm_batch(cfg, L);
  std::size_t targets = 0;
  for (const auto& e : batch)
    for (auto t : e.targets) targets += t >= 0;
  apgen::train::batch_gradient<float> bg;
  apgen::nn::transformer_weights grad(cfg);
  auto loss = bg.compute(w, batch, grad); // warm-up: tapes and per-thread gradient buffers reach their size
  const auto before = g_mallocs.load();
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    loss = bg.compute(w, batch, grad);
    benchmark::DoNotOptimize(grad.head_w.data());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
                         static_cast<double>(state.iterations());
  const double tokens = static_cast<double>(batch_size * L);
  state.counters["tokens_per_s"] = tokens / seconds;
  state.counters["GFLOP_per_s"] = 3 * forward_flops(cfg, L, batch_size) / seconds / 1e9;
  state.counters["mallocs_per_step"] =
      static_cast<double>(g_mallocs.load() - before) / static_cast<double>(state.iterations());
  state.counters["peak_rss_MB"] = peak_rss_mb();
  state.counters["target_fraction"] = static_cast<double>(targets) / tokens;
  state.counters["loss"] = loss.total;
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(batch_size * L));
  state.SetLabel("batch 64, L " + std::to_string(L) + ", " + std::to_string(threads) + " thread(s)");
}

} // namespace

int main(int argc, char** argv) {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  std::printf(
      "apgen training step (train::batch_gradient::compute, no optimizer step) on 64 MDM examples; glibc malloc\n"
      "tuned as the trainer does (trainer_options::tune_allocator): mallopt(M_MMAP_THRESHOLD, 256 MiB),\n"
      "mallopt(M_TRIM_THRESHOLD, 512 MiB). GFLOP_per_s counts 3x the forward's 2mnk products.\n");
#else
  std::printf("apgen training step (train::batch_gradient::compute, no optimizer step) on 64 MDM examples; not glibc:\n"
              "the allocator is NOT tuned as the trainer does. GFLOP_per_s counts 3x the forward's 2mnk products.\n");
#endif
  // At least 2 s per configuration (a step takes 0.1-2 s) unless the command line sets the time (the ctest smoke
  // run passes --benchmark_min_time=0.001 and so times one step of each).
  bool user_time = false;
  for (int i = 1; i < argc; ++i) user_time |= std::string(argv[i]).rfind("--benchmark_min_time=", 0) == 0;
  auto* b = benchmark::RegisterBenchmark("BM_train_step", BM_train_step)
                ->ArgsProduct({{81, 324}, {1, 2}})
                ->ArgNames({"L", "threads"})
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime();
  if (!user_time) b->MinTime(2.0);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
