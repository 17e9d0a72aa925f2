// Transformer denoiser forward pass on the three reference shapes, beside the Eigen matrix-product throughput
// measured in the same run:
//   (i)   d=128, 4 layers, 4 heads, FFN 512,  V=32,     L=81,  batch 1 and 64 (Sudoku-sized)
//   (ii)  d=256, 6 layers, 8 heads, FFN 1024, V=64,     L=128, batch 1 and 32
//   (iii) d=512, 8 layers, 8 heads, FFN 2048, V=32,000, L=256, batch 1
// Each runs with 1 and 2 OpenMP threads. Counters: ms per forward, GFLOP/s (2mnk over every product, attention and
// heads included), gemm_GFLOPs (our GEMM on the shape's T x d x d_ff product, same thread count), ratio_to_gemm,
// mallocs per forward in steady state (every malloc of the process is counted, Eigen's included), peak RSS.
// bench/compare_pytorch.sh runs each configuration in its own process beside the PyTorch reference.
#include <apgen/apgen.hpp>
#include <apgen/nn/transformer.hpp>

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <malloc.h>
#include <sys/resource.h>

#include "process_stats.hpp"

namespace {

struct shape {
  const char* name;
  std::size_t d, layers, heads, ff, vocab, length;
};
const shape shapes[] = {
    {"i", 128, 4, 4, 512, 32, 81}, {"ii", 256, 6, 8, 1024, 64, 128}, {"iii", 512, 8, 8, 2048, 32000, 256}};

double forward_flops(const shape& s, std::size_t batch) {
  const double L = static_cast<double>(s.length), d = static_cast<double>(s.d), ff = static_cast<double>(s.ff);
  const double per_layer = 2 * L * d * 3 * d + 2 * L * d * d + 2 * 2 * L * d * ff + 2 * 2 * L * L * d;
  const double heads = 2 * L * d * static_cast<double>(s.vocab) + 2 * L * d * 3;
  return static_cast<double>(batch) * (static_cast<double>(s.layers) * per_layer + heads);
}

apgen::vocabulary vocab_of(std::size_t V) {
  std::vector<std::string> sym;
  for (std::size_t i = 1; i < V; ++i) {
    std::string name = "t"; // not "t" + to_string(i): g++ 12 -O3 reports a false -Wrestrict in that operator+
    name += std::to_string(i);
    sym.push_back(std::move(name));
  }
  return apgen::vocabulary(sym);
}

// Our GEMM on the shape's T x d -> d_ff product, threaded by row chunks like the model's dense layers.
double gemm_gflops(const shape& s, std::size_t batch, int threads) {
  set_threads(threads);
  const auto T = static_cast<Eigen::Index>(batch * s.length), d = static_cast<Eigen::Index>(s.d),
             ff = static_cast<Eigen::Index>(s.ff);
  apgen::nn::matrix x = apgen::nn::matrix::Random(T, d), w = apgen::nn::matrix::Random(ff, d),
                    y = apgen::nn::matrix::Zero(T, ff);
  std::vector<apgen::nn::gemm_buffers> bufs(static_cast<std::size_t>(threads));
  auto run = [&] {
    apgen::nn::detail::for_row_chunks(
        static_cast<std::size_t>(T), 16, 2.0 * static_cast<double>(d) * static_cast<double>(ff),
        [&](std::size_t r0, std::size_t r1) {
#if APGEN_HAS_OPENMP
          auto& b = bufs[static_cast<std::size_t>(omp_get_thread_num())];
#else
          auto& b = bufs[0];
#endif
          apgen::nn::gemm_accumulate_abt(x.row(static_cast<Eigen::Index>(r0)).data(), d, w.data(), d,
                                         y.row(static_cast<Eigen::Index>(r0)).data(), ff,
                                         static_cast<Eigen::Index>(r1 - r0), ff, d, b);
        });
  };
  run();
  const double flops = 2.0 * static_cast<double>(T) * static_cast<double>(d) * static_cast<double>(ff);
  int reps = std::max(3, static_cast<int>(2e9 / flops));
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) run();
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
  benchmark::DoNotOptimize(y.data());
  return flops / sec / 1e9;
}

void BM_forward(benchmark::State& state) {
  const shape& s = shapes[state.range(0)];
  const auto batch = static_cast<std::size_t>(state.range(1));
  const int threads = static_cast<int>(state.range(2));
  set_threads(threads);
  // pin_decoded off: all positions are scored, the full head, as the peer computes it.
  const apgen::nn::transformer_config cfg{.vocab_size = s.vocab,
                                          .d_model = s.d,
                                          .n_layers = s.layers,
                                          .n_heads = s.heads,
                                          .d_ff = s.ff,
                                          .pin_decoded = false};
  apgen::nn::transformer model(apgen::nn::transformer_weights::random(cfg, 1));
  const auto v = vocab_of(s.vocab);
  apgen::canvas c(v, batch, s.length);
  for (std::size_t r = 0; r < batch; ++r) {
    std::vector<int> t(s.length);
    for (std::size_t i = 0; i < s.length; ++i) t[i] = static_cast<int>((i * 31 + r * 7) % s.vocab);
    c.assign(r, t);
  }
  apgen::denoiser_output out;
  out.reshape(c, model.heads());
  model.predict(c, {}, out); // warm-up: workspaces and packing buffers reach their size
  const auto before = g_mallocs.load();
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    model.predict(c, {}, out);
    benchmark::DoNotOptimize(out.token_data().data());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
                         static_cast<double>(state.iterations());
  const double per = static_cast<double>(g_mallocs.load() - before) / static_cast<double>(state.iterations());
  const double flops = forward_flops(s, batch);
  state.counters["GFLOPs"] =
      benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  state.counters["mallocs_per_forward"] = per;
  const double g = gemm_gflops(s, batch, threads);
  state.counters["gemm_GFLOPs"] = g;
  state.counters["ratio_to_gemm"] = flops / seconds / 1e9 / g;
  state.counters["peak_rss_MB"] = peak_rss_mb();
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch * s.length));
  state.SetLabel(std::string("shape ") + s.name + ", batch " + std::to_string(batch) + ", " + std::to_string(threads) +
                 " thread(s)");
}

void shapes_args(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2}) {
    b->Args({0, 1, threads});
    b->Args({0, 64, threads});
    b->Args({1, 1, threads});
    b->Args({1, 32, threads});
    b->Args({2, 1, threads});
  }
  b->ArgNames({"shape", "batch", "threads"});
}

} // namespace

BENCHMARK(BM_forward)->Apply(shapes_args)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.5);

int main(int argc, char** argv) {
  std::printf(
      "apgen transformer forward; GFLOPs counts 2mnk over every product; gemm_GFLOPs is our GEMM on the\n"
      "shape's T x d x d_ff product with the same thread count, measured in this run; ratio = GFLOPs / gemm_GFLOPs.\n");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
