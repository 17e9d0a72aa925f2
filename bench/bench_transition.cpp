// Transition throughput (Algorithm 1 of AP-MDM) in positions per second on ragged batches with random edit bits,
// for each CPU backend, against a plain scalar reference measured in the same run.
//
// Shapes: batch B in {1, 64}, mean row length L in {64, 1024}; row lengths uniform in [L/2, 3L/2], capacity 2L+8
// per row, ~40% MASK tokens, and at every position each of unmask/remask/insert/delete set with probability 0.1
// (independently), chosen tokens uniform over the 31 symbols.
//
// What each timing includes:
//   BM_canvas_copy          setting up one step: a memcpy per row of the variant's tokens (current lengths only)
//                           and lock flags into the work canvas, the row lengths, and a memcpy of the variant's edit
//                           bits into the plan. A transition changes the canvas (rows grow and shrink), so every
//                           timed step must start from a known state; PauseTiming() costs more than this copy at
//                           small shapes, so the copy is timed with the step and measured alone here for the reader
//                           (and the summary) to subtract. The copy leaves canvas and plan hot in cache, as the
//                           previous step and the schedule leave them in a generator.
//   BM_transition/<backend> the copy above + apply_transition<backend>: both passes (lengths and overflow check,
//                           then the rewrite into the canvas's next buffer and the copy back of each changed row).
//   BM_transition_reference Algorithm 1 written naively per row: a std::vector<int> row in, push_back into a new
//                           std::vector (no reserve), row by row, one thread, reading the variant's rows and bits
//                           directly (so it needs no copy). No overflow check, no locks, no deltas.
// Every timed loop walks round-robin through enough variants (same lengths, other tokens and bits) for 2^17
// positions, so the branch predictor cannot learn the random bits (see transition_case).
// The summary table at the end (custom main) gives net = step - copy per backend and the speed-up over the
// reference, all from this one run. allocs_per_step counts global operator new calls per timed iteration (the
// library path must show 0 in steady state; the reference allocates per row as it grows).
//
// Run: build/release/bench/bench_transition            (full run: 3 repetitions of 0.1 s each, about 10 s)
//      build/release/bench/bench_transition --no_summary --benchmark_filter=omp

#include "bench_support.hpp"

#include <apgen/apgen.hpp>

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

constexpr std::size_t symbol_count = 31; // V = 32 with MASK
const std::vector<std::size_t> batch_sizes{1, 64};
const std::vector<std::size_t> mean_lengths{64, 1024};

const apgen::transition_options options{apgen::edits::any_process::mask, apgen::overflow_policy::throw_error, 0};

apgen::vocabulary make_vocabulary() {
  std::vector<std::string> s;
  for (std::size_t i = 1; i <= symbol_count; ++i) {
    std::string name = "s"; // (not "s" + to_string: g++ 12 -O3 warns falsely there, -Wrestrict)
    name += std::to_string(i);
    s.push_back(std::move(name));
  }
  return apgen::vocabulary(s);
}

/// One shape's data. Every variant has the same row lengths (so one plan layout fits all) but its own tokens and
/// edit bits; the timed loops walk through the variants, because with one fixed pattern the branch predictor
/// learns a small shape's few thousand random branches after a few iterations and the timing stops saying anything
/// about random edits (B=64, L=64 ran 4x faster per position than B=64, L=1024 before this). There are enough
/// variants for 2^17 positions in all.
struct transition_case {
  static constexpr std::size_t positions_in_all_variants = std::size_t{1} << 17;
  std::size_t B = 0, L = 0, positions = 0, variants = 0, next = 0;
  apgen::canvas pristine; // layout and lengths (tokens of variant 0)
  apgen::canvas work;     // what the timed transition transforms
  apgen::step_plan plan;  // the plan the library reads; ops are copied in from a variant each step
  std::vector<apgen::row_delta> deltas;
  std::vector<int> tokens;                         // variants x positions, packed like the plan
  std::vector<std::uint8_t> ops;                   // variants x positions
  std::vector<std::vector<std::vector<int>>> rows; // [variant][row]: the reference's input

  transition_case(const apgen::vocabulary& v, std::size_t b, std::size_t l)
      : B(b), L(l), pristine(v, std::vector<std::size_t>(b, 2 * l + 8)), work(pristine), deltas(b) {
    std::mt19937_64 gen(0x5eed0000u + 131 * b + l);
    std::uniform_int_distribution<std::size_t> len(l / 2, 3 * l / 2);
    std::uniform_int_distribution<int> sym(1, static_cast<int>(symbol_count));
    std::bernoulli_distribution is_mask(0.4), bit(0.1);
    std::vector<std::size_t> lengths(b);
    for (auto& n : lengths) n = len(gen);
    for (std::size_t r = 0; r < b; ++r) pristine.assign(r, std::vector<int>(lengths[r], v.mask()));
    plan.reserve_for(pristine, false);
    plan.reshape(pristine, false);
    positions = plan.offsets.back();
    variants = std::max<std::size_t>(2, (positions_in_all_variants + positions - 1) / positions);
    tokens.resize(variants * positions);
    ops.resize(variants * positions);
    rows.resize(variants);
    for (std::size_t k = 0; k < variants * positions; ++k) {
      tokens[k] = is_mask(gen) ? v.mask() : sym(gen);
      std::uint8_t o = apgen::op_none;
      if (bit(gen)) o |= apgen::op_unmask;
      if (bit(gen)) o |= apgen::op_remask;
      if (bit(gen)) o |= apgen::op_insert;
      if (bit(gen)) o |= apgen::op_erase;
      ops[k] = o;
    }
    for (std::size_t k = 0; k < positions; ++k) plan.token[k] = sym(gen);
    for (std::size_t var = 0; var < variants; ++var)
      for (std::size_t r = 0; r < b; ++r) {
        const int* t = tokens.data() + var * positions + plan.offsets[r];
        rows[var].emplace_back(t, t + lengths[r]);
      }
    for (std::size_t r = 0; r < b; ++r) pristine.assign(r, rows[0][r]);
    work = pristine;
  }

  /// Puts variant `var`'s rows into the work canvas (lock flags from the pristine canvas, all 0 here, and the row
  /// lengths) and its edit bits into the plan.
  void restore(std::size_t var) {
    const int* t = tokens.data() + var * positions;
    for (std::size_t r = 0; r < B; ++r) {
      const std::size_t n = pristine.length(r), off = pristine.region_offset(r), p = plan.offsets[r];
      std::memcpy(work.tokens_data() + off, t + p, n * sizeof(apgen::token_id));
      std::memcpy(work.locked_data() + off, pristine.locked_data() + off, n);
      work.set_length_unchecked(r, n);
    }
    std::memcpy(plan.ops.data(), ops.data() + var * positions, positions);
  }
  /// The variant for the next timed step (round robin).
  std::size_t advance() {
    const std::size_t var = next;
    next = next + 1 == variants ? 0 : next + 1;
    return var;
  }
  [[nodiscard]] const std::uint8_t* ops_of(std::size_t var) const { return ops.data() + var * positions; }
};

transition_case& get_case(std::size_t B, std::size_t L) {
  static const apgen::vocabulary vocab = make_vocabulary();
  static std::map<std::pair<std::size_t, std::size_t>, std::unique_ptr<transition_case>> cases;
  auto& slot = cases[{B, L}];
  if (!slot) slot = std::make_unique<transition_case>(vocab, B, L);
  return *slot;
}

/// Algorithm 1, naively: one row in, a new row out.
std::vector<int> reference_row(const std::vector<int>& x, const std::uint8_t* ops, const int* y, int mask) {
  std::vector<int> out;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const std::uint8_t b = ops[i];
    if (x[i] == mask && (b & apgen::op_erase)) continue;
    int now = x[i];
    if (b & apgen::op_remask)
      now = mask;
    else if (x[i] == mask && (b & apgen::op_unmask))
      now = y[i];
    out.push_back(now);
    if (b & apgen::op_insert) out.push_back(mask);
  }
  return out;
}

void BM_canvas_copy(benchmark::State& state, std::size_t B, std::size_t L) {
  auto& tc = get_case(B, L);
  const auto before = apgen_bench::allocations();
  for (auto _ : state) {
    tc.restore(tc.advance());
    benchmark::ClobberMemory();
  }
  apgen_bench::report_allocations(state, before);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(tc.positions));
}

template <class Backend>
void BM_transition(benchmark::State& state, std::size_t B, std::size_t L) {
  auto& tc = get_case(B, L);
  tc.restore(tc.advance()); // warm-up: first touch of the next buffers, OpenMP team start
  apgen::apply_transition<Backend>(tc.work, tc.plan, tc.deltas, options);
  const auto before = apgen_bench::allocations();
  for (auto _ : state) {
    tc.restore(tc.advance());
    apgen::apply_transition<Backend>(tc.work, tc.plan, tc.deltas, options);
    benchmark::DoNotOptimize(tc.deltas.data());
    benchmark::ClobberMemory();
  }
  apgen_bench::report_allocations(state, before);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(tc.positions));
}

void BM_transition_reference(benchmark::State& state, std::size_t B, std::size_t L) {
  auto& tc = get_case(B, L);
  const auto before = apgen_bench::allocations();
  for (auto _ : state) {
    const std::size_t var = tc.advance();
    for (std::size_t r = 0; r < B; ++r) {
      const std::size_t p = tc.plan.offsets[r];
      auto out = reference_row(tc.rows[var][r], tc.ops_of(var) + p, tc.plan.token.data() + p, 0);
      benchmark::DoNotOptimize(out.data());
    }
    benchmark::ClobberMemory();
  }
  apgen_bench::report_allocations(state, before);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(tc.positions));
}

std::string shape_args(std::size_t B, std::size_t L) {
  return "B:" + std::to_string(B) + "/L:" + std::to_string(L);
}

/// The library's rows after one omp transition must equal the reference's, on every shape.
bool check_against_reference() {
  for (auto B : batch_sizes)
    for (auto L : mean_lengths) {
      auto& tc = get_case(B, L);
      for (std::size_t var : {std::size_t{0}, tc.variants - 1}) {
        tc.restore(var);
        apgen::apply_transition<apgen::backends::omp>(tc.work, tc.plan, tc.deltas, options);
        for (std::size_t r = 0; r < B; ++r) {
          const std::size_t p = tc.plan.offsets[r];
          const auto want = reference_row(tc.rows[var][r], tc.ops_of(var) + p, tc.plan.token.data() + p, 0);
          const auto got = tc.work.row(r);
          if (!std::equal(want.begin(), want.end(), got.begin(), got.end())) {
            std::fprintf(stderr, "check FAILED: B=%zu L=%zu variant %zu row %zu differs from the reference\n", B, L,
                         var, r);
            return false;
          }
        }
      }
    }
  return true;
}

void print_summary(const benchmark::BenchmarkReporter& rep, const apgen_bench::bench_options& o) {
  std::FILE* f = apgen_bench::summary_stream(o);
  std::fprintf(f,
               "\nSummary (this run, median repetition of each; net = step - canvas copy; speed-up = net positions/s "
               "over the naive reference's)\n");
  std::fprintf(f, "%-14s %8s %-8s %12s %10s %10s %14s %14s %9s %12s\n", "shape", "positions", "backend", "step+copy us",
               "copy us", "net us", "net pos/s", "ref pos/s", "speed-up", "allocs/step");
  for (auto B : batch_sizes)
    for (auto L : mean_lengths) {
      const auto args = shape_args(B, L);
      const double n = static_cast<double>(get_case(B, L).positions);
      const auto copy = apgen_bench::lookup(rep, "BM_canvas_copy/" + args);
      const auto ref = apgen_bench::lookup(rep, "BM_transition_reference/" + args);
      const std::string shape = "B=" + std::to_string(B) + " L=" + std::to_string(L);
      for (const char* backend : {"serial", "simd", "omp"}) {
        const auto m = apgen_bench::lookup(rep, std::string("BM_transition/") + backend + "/" + args);
        if (!m.ok()) continue;
        const double net = copy.ok() ? m.seconds - copy.seconds : m.seconds;
        const double ours = n / net, theirs = ref.ok() ? n / ref.seconds : NAN;
        std::fprintf(f, "%-14s %8.0f %-8s %12.2f %10.2f %10.2f %14.3e %14.3e %8.1fx %12.2f\n", shape.c_str(), n,
                     backend, m.seconds * 1e6, copy.ok() ? copy.seconds * 1e6 : NAN, net * 1e6, ours, theirs,
                     ours / theirs, m.allocs);
      }
      if (ref.ok())
        std::fprintf(f, "%-14s %8.0f %-8s %12s %10s %10.2f %14s %14.3e %9s %12.2f\n", shape.c_str(), n, "ref", "-", "-",
                     ref.seconds * 1e6, "-", n / ref.seconds, "1.0x", ref.allocs);
    }
  std::fprintf(f, "(allocs/step must be 0 for serial/simd/omp; the reference allocates as its output rows grow)\n");
}

} // namespace

int main(int argc, char** argv) {
  auto opts = apgen_bench::parse_options(argc, argv);
  std::FILE* out = apgen_bench::summary_stream(opts); // stderr under --benchmark_format=json/csv
  std::fprintf(out, "bench_transition: apgen %d.%d.%d, omp threads %d (omp_get_max_threads), xsimd arch %s, g++ %s\n",
               APGEN_VERSION_MAJOR, APGEN_VERSION_MINOR, APGEN_VERSION_PATCH, apgen_bench::omp_threads(),
               xsimd::default_arch::name(), __VERSION__);
  std::fprintf(out,
               "shapes: B in {1, 64}, mean length L in {64, 1024} (lengths uniform in [L/2, 3L/2]), capacity 2L+8, "
               "40%% MASK, each edit bit p=0.1\n");
  if (!check_against_reference()) return 1;
  std::fprintf(out, "check: the omp transition equals the reference on every shape\n");
  std::fflush(out);

  for (auto B : batch_sizes)
    for (auto L : mean_lengths) {
      const auto args = shape_args(B, L);
      apgen_bench::add("BM_canvas_copy/" + args, opts, [=](benchmark::State& s) { BM_canvas_copy(s, B, L); });
      apgen_bench::add("BM_transition_reference/" + args, opts,
                       [=](benchmark::State& s) { BM_transition_reference(s, B, L); });
      apgen_bench::add("BM_transition/serial/" + args, opts,
                       [=](benchmark::State& s) { BM_transition<apgen::backends::serial>(s, B, L); });
      apgen_bench::add("BM_transition/simd/" + args, opts,
                       [=](benchmark::State& s) { BM_transition<apgen::backends::simd>(s, B, L); });
      apgen_bench::add("BM_transition/omp/" + args, opts,
                       [=](benchmark::State& s) { BM_transition<apgen::backends::omp>(s, B, L); });
    }

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  auto reporter = apgen_bench::make_reporter(opts);
  benchmark::RunSpecifiedBenchmarks(reporter.get());
  if (opts.summary) print_summary(*reporter, opts);
  benchmark::Shutdown();
  return 0;
}
