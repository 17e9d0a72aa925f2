// The token pass and the schedule's selection of one MDM step, against the memory it has to read: for L = 256
// positions of one row, all MASK (so every position is scored), over L x V token logits with V in {16, 256, 4096,
// 32000} (the last is 32.8 MB, past the 1 MiB L2), for each CPU backend and confidence measure.
//
// What each timing includes:
//   BM_token_pass/<backend>/<sampler>/<measure>   one step's decision work: plan.reshape + marking every position
//       (want = score_choice), sampling::choose_tokens<backend> (per position: the max pass, the argmax search and
//       the exp pass over V logits, the sampler's choice, the confidence), and masked_diffusion::select with
//       unmask_count::fixed_k(8) (top-8 of 256 scores). Greedy for every measure; temperature(1.0) once per
//       backend with the probability measure (its Gumbel noise is a double log(-log u) per plausible token, which
//       with logits of scale 3 is every token).
//   BM_read_once/<threads>   the floor: one vectorised pass summing all L*V floats of the same buffer (xsimd,
//       4 accumulators), on 1 thread and on OpenMP's default thread count, reported as GB/s. The buffer is the
//       same as the token pass reads, so both see the same cache level (at V=32000 the 32.8 MB may partly live in
//       the L3 of the host, whatever its size in this VM; the ratio stays like for like).
//   BM_token_pass_reference   a plain scalar token pass: per position a scalar max/top-2/argmax loop and a
//       std::exp(double) sum of exp and z*exp, then the same top-8 selection with std::partial_sort; one thread.
//       It stays scalar without any pragma: the sums are in double without -ffast-math (g++ may not reorder them)
//       and std::exp has no vector variant outside fast-math, so g++ -O3 -march=native emits scalar code for it
//       (checked in the assembly: only scalar ss/sd floating-point instructions in reference_token_pass; the
//       index fill order[p] = p is the one vectorised loop).
// Logits are random normal with standard deviation 3 (a fixed seed); every timed iteration sees the same buffer
// (at V=16, 4096 logits, a branch predictor can learn the scalar max loops' branches, which can only flatter
// serial and the reference there; the vector loops' branches, NaN check and argmax found, do not depend on the
// random values).
// allocs_per_step counts global operator new calls per timed iteration (must be 0 for the library path).
// The summary table (custom main) gives per (V, measure, backend): time per pass, the ratio to read-once on the
// same number of threads (target: <= 2.0 for omp) and the speed-up over the scalar reference.
//
// Run: build/release/bench/bench_selection            (full run: 3 repetitions of 0.1 s each, under a minute)
//      build/release/bench/bench_selection --benchmark_filter=V:32000

#include "bench_support.hpp"

#include <apgen/apgen.hpp>

#include <benchmark/benchmark.h>
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace {

constexpr std::size_t positions = 256;
constexpr std::size_t unmask_per_step = 8;
constexpr std::uint64_t seed = 20261127;
const std::vector<std::size_t> vocab_sizes{16, 256, 4096, 32000};

using measure_t = apgen::sampling::confidence_measure;
const std::vector<std::pair<measure_t, const char*>> measures{
    {measure_t::probability, "probability"}, {measure_t::margin, "margin"}, {measure_t::entropy, "entropy"}};

/// One vocabulary size's data: a canvas of one all-MASK row, its logits, a plan, and the reference's buffers.
struct selection_case {
  std::size_t V;
  apgen::canvas c;
  apgen::denoiser_output out;
  apgen::step_plan plan;
  apgen::sampling::token_filter filter;
  std::vector<int> ref_token;
  std::vector<float> ref_score;
  std::vector<std::uint32_t> ref_order;

  static apgen::vocabulary make_vocabulary(std::size_t v) {
    std::vector<std::string> s;
    for (std::size_t i = 1; i < v; ++i) {
      std::string name = "t"; // (not "t" + to_string: g++ 12 -O3 warns falsely there, -Wrestrict)
      name += std::to_string(i);
      s.push_back(std::move(name));
    }
    return apgen::vocabulary(s); // V - 1 symbols after MASK (id 0)
  }

  explicit selection_case(std::size_t v)
      : V(v), c(make_vocabulary(v), 1, positions), ref_token(positions), ref_score(positions), ref_order(positions) {
    c.assign_prompt_and_masks(0, {}, positions);
    out.reshape(c, apgen::heads::tokens_only);
    std::mt19937_64 gen(seed + v);
    std::normal_distribution<float> normal(0.f, 3.f);
    for (auto& z : out.token_data()) z = normal(gen);
    plan.reserve_for(c, false);
    plan.reshape(c, false);
    filter = apgen::sampling::default_filter(c, std::nullopt);
  }
  [[nodiscard]] std::size_t bytes() const { return positions * V * sizeof(float); }
};

selection_case& get_case(std::size_t V) {
  static std::map<std::size_t, std::unique_ptr<selection_case>> cases;
  auto& slot = cases[V];
  if (!slot) slot = std::make_unique<selection_case>(V);
  return *slot;
}

/// The step in progress: our seed, step 0, every row active (members set by name, so new ones keep defaults).
apgen::step_context make_context() {
  apgen::step_context ctx;
  ctx.seed = seed;
  ctx.step = 0;
  return ctx;
}

/// One step of the library: reshape and mark, token pass, selection.
template <class Backend, class Sampler>
void library_step(selection_case& sc, apgen::schedules::masked_diffusion<Sampler>& sched,
                  const apgen::step_context& ctx) {
  sc.plan.reshape(sc.c, false);
  std::fill(sc.plan.want.begin(), sc.plan.want.end(), std::uint8_t{apgen::score_choice});
  apgen::sampling::choose_tokens<Backend>(sc.c, sc.out, sched.sampler(), sched.measure(), sc.filter, ctx, sc.plan);
  sched.select(sc.c, sc.out, ctx, sc.plan);
}

template <class Backend, class Sampler>
void BM_token_pass(benchmark::State& state, std::size_t V, measure_t measure, Sampler sampler) {
  auto& sc = get_case(V);
  apgen::schedules::masked_diffusion<Sampler> sched(measure, apgen::schedules::unmask_count::fixed_k(unmask_per_step),
                                                    sampler);
  sched.reset(sc.c);
  const apgen::step_context ctx = make_context();
  library_step<Backend>(sc, sched, ctx); // warm-up: OpenMP team, first touch
  const auto before = apgen_bench::allocations();
  for (auto _ : state) {
    library_step<Backend>(sc, sched, ctx);
    benchmark::DoNotOptimize(sc.plan.ops.data());
    benchmark::ClobberMemory();
  }
  apgen_bench::report_allocations(state, before);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(positions));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(sc.bytes()));
}

/// The scalar reference token pass plus top-k selection (see the file comment).
__attribute__((noinline)) void reference_token_pass(const float* logits, std::size_t L, std::size_t V, int mask,
                                                    measure_t measure, int* token, float* score, std::uint32_t* order,
                                                    std::size_t k) {
  for (std::size_t p = 0; p < L; ++p) {
    const float* z = logits + p * V;
    float top1 = -INFINITY, top2 = -INFINITY;
    int arg = -1;
    for (std::size_t j = 0; j < V; ++j) {
      if (static_cast<int>(j) == mask) continue;
      if (z[j] > top1) {
        top2 = top1;
        top1 = z[j];
        arg = static_cast<int>(j);
      } else if (z[j] > top2) {
        top2 = z[j];
      }
    }
    double se = 0, sze = 0;
    for (std::size_t j = 0; j < V; ++j) {
      if (static_cast<int>(j) == mask) continue;
      const double d = static_cast<double>(z[j]) - top1;
      const double e = std::exp(d);
      se += e;
      sze += d * e;
    }
    token[p] = arg;
    switch (measure) {
    case measure_t::margin:
      score[p] = static_cast<float>((1.0 - std::exp(static_cast<double>(top2) - top1)) / se);
      break;
    case measure_t::entropy:
      score[p] = static_cast<float>(-(std::log(se) - sze / se));
      break;
    default:
      score[p] = static_cast<float>(1.0 / se);
      break; // probability of the argmax: exp(0) / se
    }
  }
  for (std::size_t p = 0; p < L; ++p) order[p] = static_cast<std::uint32_t>(p);
  std::partial_sort(order, order + std::min(k, L), order + L, [&](std::uint32_t a, std::uint32_t b) {
    return score[a] > score[b] || (score[a] == score[b] && a < b);
  });
}

void BM_token_pass_reference(benchmark::State& state, std::size_t V) {
  auto& sc = get_case(V);
  const float* z = sc.out.token_data().data();
  const auto before = apgen_bench::allocations();
  for (auto _ : state) {
    reference_token_pass(z, positions, V, sc.c.mask(), measure_t::probability, sc.ref_token.data(), sc.ref_score.data(),
                         sc.ref_order.data(), unmask_per_step);
    benchmark::DoNotOptimize(sc.ref_order.data());
    benchmark::ClobberMemory();
  }
  apgen_bench::report_allocations(state, before);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(positions));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(sc.bytes()));
}

/// Sum of n floats with full-width vectors and four independent accumulators (enough to keep loads in flight).
float read_sum(const float* p, std::size_t n) {
  using batch = xsimd::batch<float>;
  constexpr std::size_t W = batch::size;
  batch a0(0.f), a1(0.f), a2(0.f), a3(0.f);
  std::size_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    a0 += batch::load_unaligned(p + i);
    a1 += batch::load_unaligned(p + i + W);
    a2 += batch::load_unaligned(p + i + 2 * W);
    a3 += batch::load_unaligned(p + i + 3 * W);
  }
  float s = xsimd::hadd((a0 + a1) + (a2 + a3));
  for (; i < n; ++i) s += p[i];
  return s;
}

float read_once(const float* p, std::size_t n, bool threaded) {
  float total = 0;
#if defined(_OPENMP)
  if (threaded) {
#pragma omp parallel reduction(+ : total)
    {
      const auto t = static_cast<std::size_t>(omp_get_thread_num()),
                 T = static_cast<std::size_t>(omp_get_num_threads());
      const std::size_t b = n * t / T, e = n * (t + 1) / T;
      total += read_sum(p + b, e - b);
    }
    return total;
  }
#endif
  (void)threaded;
  return read_sum(p, n);
}

void BM_read_once(benchmark::State& state, std::size_t V, bool threaded) {
  auto& sc = get_case(V);
  const auto data = sc.out.token_data();
  benchmark::DoNotOptimize(read_once(data.data(), data.size(), threaded));
  for (auto _ : state) benchmark::DoNotOptimize(read_once(data.data(), data.size(), threaded));
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(positions));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(sc.bytes()));
}

std::string vname(std::size_t V) {
  return "V:" + std::to_string(V);
}

/// The library's greedy tokens must equal the reference's, and its scores agree to float rounding.
bool check_against_reference() {
  for (auto V : vocab_sizes) {
    auto& sc = get_case(V);
    for (const auto& entry : measures) {
      const auto m = entry.first;
      const char* const mname = entry.second; // a plain variable: clang 14 cannot capture structured bindings
      reference_token_pass(sc.out.token_data().data(), positions, V, sc.c.mask(), m, sc.ref_token.data(),
                           sc.ref_score.data(), sc.ref_order.data(), unmask_per_step);
      apgen::schedules::masked_diffusion<> sched(m, apgen::schedules::unmask_count::fixed_k(unmask_per_step));
      sched.reset(sc.c);
      const apgen::step_context ctx = make_context();
      auto compare = [&](const char* backend) {
        for (std::size_t p = 0; p < positions; ++p) {
          const float a = sc.plan.score[p], b = sc.ref_score[p];
          if (sc.plan.token[p] != sc.ref_token[p] || std::abs(a - b) > 1e-5f * std::max(1.f, std::abs(b))) {
            std::fprintf(stderr, "check FAILED: V=%zu %s %s position %zu: token %d vs %d, score %.9g vs %.9g\n", V,
                         mname, backend, p, sc.plan.token[p], sc.ref_token[p], static_cast<double>(a),
                         static_cast<double>(b));
            return false;
          }
        }
        return true;
      };
      library_step<apgen::backends::serial>(sc, sched, ctx);
      if (!compare("serial")) return false;
      library_step<apgen::backends::omp>(sc, sched, ctx);
      if (!compare("omp")) return false;
    }
  }
  return true;
}

void print_summary(const benchmark::BenchmarkReporter& rep, const apgen_bench::bench_options& o) {
  std::FILE* f = apgen_bench::summary_stream(o);
  const int T = apgen_bench::omp_threads();
  std::fprintf(
      f,
      "\nSummary (this run, median repetition of each; L=%zu positions, B=1, all MASK; a pass = reshape + token "
      "pass + select top-%zu)\n",
      positions, unmask_per_step);
  std::fprintf(f,
               "x read-once: pass time / read-once time on the same thread count (1 for serial/simd, %d for omp); "
               "target <= 2.0 for omp\n",
               T);
  std::fprintf(f, "%-7s %8s %-12s %-12s %-7s %11s %9s %12s %13s %12s\n", "V", "MB", "measure", "sampler", "backend",
               "us/pass", "GB/s", "x read-once", "x scalar ref", "allocs/step");
  for (auto V : vocab_sizes) {
    const auto vn = vname(V);
    const double mb = static_cast<double>(positions * V * sizeof(float)) / 1e6;
    const auto r1 = apgen_bench::lookup(rep, "BM_read_once/threads:1/" + vn);
    const auto rT = apgen_bench::lookup(rep, "BM_read_once/threads:omp/" + vn);
    const auto ref = apgen_bench::lookup(rep, "BM_token_pass_reference/" + vn);
    auto row = [&](const char* measure, const char* sampler, const char* backend, const apgen_bench::measured& m,
                   const apgen_bench::measured& floor) {
      if (!m.ok()) return;
      std::fprintf(f, "%-7zu %8.3f %-12s %-12s %-7s %11.2f %9.2f %12.2f %12.1fx %12.2f\n", V, mb, measure, sampler,
                   backend, m.seconds * 1e6, mb / 1e3 / m.seconds, floor.ok() ? m.seconds / floor.seconds : NAN,
                   ref.ok() ? ref.seconds / m.seconds : NAN, m.allocs);
    };
    row("-", "read-once", "1 thr", r1, r1);
    row("-", "read-once", "omp", rT, rT);
    row("all", "scalar ref", "1 thr", ref, r1);
    for (const auto& [m, mname] : measures)
      for (const char* backend : {"serial", "simd", "omp"})
        row(mname, "greedy", backend,
            apgen_bench::lookup(rep, std::string("BM_token_pass/") + backend + "/greedy/" + mname + "/" + vn),
            std::string(backend) == "omp" ? rT : r1);
    for (const char* backend : {"serial", "simd", "omp"})
      row("probability", "temperature", backend,
          apgen_bench::lookup(rep, std::string("BM_token_pass/") + backend + "/temperature/probability/" + vn),
          std::string(backend) == "omp" ? rT : r1);
  }
}

} // namespace

int main(int argc, char** argv) {
  auto opts = apgen_bench::parse_options(argc, argv);
  std::FILE* out = apgen_bench::summary_stream(opts); // stderr under --benchmark_format=json/csv
  std::fprintf(
      out,
      "bench_selection: apgen %d.%d.%d, omp threads %d (omp_get_max_threads), xsimd arch %s (%zu floats), g++ %s\n",
      APGEN_VERSION_MAJOR, APGEN_VERSION_MINOR, APGEN_VERSION_PATCH, apgen_bench::omp_threads(),
      xsimd::default_arch::name(), xsimd::batch<float>::size, __VERSION__);
  std::fprintf(out,
               "shape: B=1, L=%zu all MASK, V in {16, 256, 4096, 32000}, logits N(0, 3^2); select = masked_diffusion "
               "fixed_k(%zu)\n",
               positions, unmask_per_step);
  if (!check_against_reference()) return 1;
  std::fprintf(
      out, "check: serial and omp greedy tokens equal the scalar reference, scores within 1e-5 (every V, measure)\n");
  std::fflush(out);

  using namespace apgen::backends;
  using apgen::sampling::greedy;
  using apgen::sampling::temperature;
  for (auto V : vocab_sizes) {
    const auto vn = vname(V);
    apgen_bench::add("BM_read_once/threads:1/" + vn, opts, [=](benchmark::State& s) { BM_read_once(s, V, false); });
    apgen_bench::add("BM_read_once/threads:omp/" + vn, opts, [=](benchmark::State& s) { BM_read_once(s, V, true); });
    apgen_bench::add("BM_token_pass_reference/" + vn, opts,
                     [=](benchmark::State& s) { BM_token_pass_reference(s, V); });
    for (const auto& [m, mname] : measures) {
      const std::string tail = std::string("/greedy/") + mname + "/" + vn;
      const measure_t mm = m;
      apgen_bench::add("BM_token_pass/serial" + tail, opts,
                       [=](benchmark::State& s) { BM_token_pass<serial>(s, V, mm, greedy{}); });
      apgen_bench::add("BM_token_pass/simd" + tail, opts,
                       [=](benchmark::State& s) { BM_token_pass<simd>(s, V, mm, greedy{}); });
      apgen_bench::add("BM_token_pass/omp" + tail, opts,
                       [=](benchmark::State& s) { BM_token_pass<omp>(s, V, mm, greedy{}); });
    }
    const std::string tail = "/temperature/probability/" + vn;
    const auto p = measure_t::probability;
    apgen_bench::add("BM_token_pass/serial" + tail, opts,
                     [=](benchmark::State& s) { BM_token_pass<serial>(s, V, p, temperature(1.0)); });
    apgen_bench::add("BM_token_pass/simd" + tail, opts,
                     [=](benchmark::State& s) { BM_token_pass<simd>(s, V, p, temperature(1.0)); });
    apgen_bench::add("BM_token_pass/omp" + tail, opts,
                     [=](benchmark::State& s) { BM_token_pass<omp>(s, V, p, temperature(1.0)); });
  }

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  auto reporter = apgen_bench::make_reporter(opts);
  benchmark::RunSpecifiedBenchmarks(reporter.get());
  if (opts.summary) print_summary(*reporter, opts);
  benchmark::Shutdown();
  return 0;
}
