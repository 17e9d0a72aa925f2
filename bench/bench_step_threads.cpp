// One generation step at 1 and at 2 threads, small steps and large, on the default (omp) backend: what a user
// gets by linking apgen::openmp. A step below the parallel grain (apgen::detail::parallel_grain_ns) must run
// inline, as fast at 2 threads as at 1; a large step should gain from the second thread.
//
// Each timed iteration resets a canvas of B rows of L MASKs and runs one masked-diffusion step (top probability,
// unmask k = max(1, L / 4) per row) with a callable denoiser that writes hashed logits (cost ~ L x V per row, the
// same at any thread count since the denoiser is single-threaded), so the time is the denoiser's plus the
// engine's: the token pass over every position and the transition. The summary prints per shape the time at 1
// and at 2 threads and their ratio (above 1: the second thread helps; about 1: the step stayed inline).
//
// Run: build/release/bench/bench_step_threads     (3 repetitions of 0.1 s per case, a few seconds)

#include "bench_support.hpp"

#include <apgen/apgen.hpp>

#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>
#include <vector>

namespace {

struct shape {
  std::size_t B, L, V;
};
const std::vector<shape> shapes{{1, 2, 4}, {1, 64, 32}, {8, 64, 256}, {64, 256, 1024}};

std::string shape_name(const shape& s) {
  return "B:" + std::to_string(s.B) + "/L:" + std::to_string(s.L) + "/V:" + std::to_string(s.V);
}

apgen::vocabulary make_vocabulary(std::size_t V) {
  std::vector<std::string> symbols;
  for (std::size_t i = 1; i < V; ++i) {
    std::string name = "s";
    name += std::to_string(i);
    symbols.push_back(std::move(name));
  }
  return apgen::vocabulary(symbols);
}

void BM_step(benchmark::State& state, shape s, int threads) {
#if defined(_OPENMP)
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
#else
  (void)threads;
#endif
  const apgen::vocabulary vocab = make_vocabulary(s.V);
  const std::size_t V = vocab.size();
  auto model = apgen::make_denoiser(V, [V](std::span<const apgen::token_id> row, apgen::matrix_view<float> logits) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      auto z = logits.row(i);
      for (std::size_t v = 1; v < V; ++v)
        z[v] = static_cast<float>(apgen::detail::splitmix64(i * 7919 + v) >> 40) * 1e-6f;
    }
  });
  const std::size_t k = std::max<std::size_t>(1, s.L / 4);
  auto gen = apgen::make_generator(model, apgen::schedules::top_probability(apgen::schedules::unmask_count::fixed_k(k)),
                                   {.max_steps = 1});
  apgen::canvas c(vocab, s.B, s.L);
  for (auto _ : state) {
    for (std::size_t r = 0; r < s.B; ++r) c.assign_prompt_and_masks(r, {}, s.L);
    benchmark::DoNotOptimize(gen.generate(c));
  }
  state.counters["positions"] = static_cast<double>(s.B * s.L);
#if defined(_OPENMP)
  omp_set_num_threads(saved);
#endif
}

} // namespace

int main(int argc, char** argv) {
  auto opts = apgen_bench::parse_options(argc, argv);
  std::FILE* out = apgen_bench::summary_stream(opts);
  std::fprintf(out, "bench_step_threads: apgen %d.%d.%d, parallel grain %.0f ns, omp threads available %d\n",
               APGEN_VERSION_MAJOR, APGEN_VERSION_MINOR, APGEN_VERSION_PATCH, apgen::detail::parallel_grain_ns,
               apgen_bench::omp_threads());
  for (const auto& s : shapes)
    for (int t : {1, 2})
      apgen_bench::add("BM_step/threads:" + std::to_string(t) + "/" + shape_name(s), opts,
                       [=](benchmark::State& st) { BM_step(st, s, t); });
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  auto reporter = apgen_bench::make_reporter(opts);
  benchmark::RunSpecifiedBenchmarks(reporter.get());
  if (opts.summary) {
    std::fprintf(out, "\n| shape | 1 thread us | 2 threads us | 1 thread / 2 threads |\n|---|---|---|---|\n");
    for (const auto& s : shapes) {
      const auto one = apgen_bench::lookup(*reporter, "BM_step/threads:1/" + shape_name(s));
      const auto two = apgen_bench::lookup(*reporter, "BM_step/threads:2/" + shape_name(s));
      std::fprintf(out, "| %s | %.2f | %.2f | %.2fx |\n", shape_name(s).c_str(), one.seconds * 1e6, two.seconds * 1e6,
                   one.seconds / two.seconds);
    }
  }
  benchmark::Shutdown();
  return 0;
}
