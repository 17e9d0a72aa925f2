#pragma once
/// \file
/// Shared by the bench_*.cpp programs (not a library header, not a bench of its own: bench/CMakeLists.txt globs
/// only bench_*.cpp). It provides
///   - a global allocation counter: the replaceable operator new/delete are defined HERE, so include this header
///     from exactly one translation unit per executable (every bench is a single .cpp);
///   - a reporter that prints like Google Benchmark's own and also keeps every run, so a custom main can print a
///     summary table of ratios measured side by side in the same process;
///   - the command-line handling and the benchmark defaults every bench main shares (--no_summary, and the
///     timing flags: when the command line sets none, 3 repetitions of 0.1 s; the ctest smoke run sets
///     --benchmark_min_time=0.001 and so runs each benchmark once, briefly).

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include <unistd.h>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace apgen_bench {

/// Number of calls to any operator new since the program started (relaxed: a count, not a synchronisation).
inline std::atomic<std::uint64_t> g_allocations{0};
inline std::uint64_t allocations() noexcept {
  return g_allocations.load(std::memory_order_relaxed);
}

namespace detail {
inline void* counted_alloc(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n == 0 ? 1 : n);
}
inline void* counted_aligned_alloc(std::size_t n, std::size_t align) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  void* p = nullptr;
  if (align < sizeof(void*)) align = sizeof(void*);
  if (posix_memalign(&p, align, n == 0 ? 1 : n) != 0) return nullptr;
  return p;
}
} // namespace detail

} // namespace apgen_bench

// The replaceable global allocation functions (all of them, so no path escapes the count). noinline keeps g++ 12
// from inlining a delete into its caller and then warning (-Wmismatched-new-delete) that free() meets a pointer
// from operator new, which is exactly the pairing these replacements define.
#if defined(__GNUC__)
#define APGEN_BENCH_NOINLINE __attribute__((noinline))
#else
#define APGEN_BENCH_NOINLINE
#endif
APGEN_BENCH_NOINLINE void* operator new(std::size_t n) {
  if (void* p = apgen_bench::detail::counted_alloc(n)) return p;
  throw std::bad_alloc();
}
APGEN_BENCH_NOINLINE void* operator new[](std::size_t n) {
  if (void* p = apgen_bench::detail::counted_alloc(n)) return p;
  throw std::bad_alloc();
}
APGEN_BENCH_NOINLINE void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return apgen_bench::detail::counted_alloc(n);
}
APGEN_BENCH_NOINLINE void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return apgen_bench::detail::counted_alloc(n);
}
APGEN_BENCH_NOINLINE void* operator new(std::size_t n, std::align_val_t a) {
  if (void* p = apgen_bench::detail::counted_aligned_alloc(n, static_cast<std::size_t>(a))) return p;
  throw std::bad_alloc();
}
APGEN_BENCH_NOINLINE void* operator new[](std::size_t n, std::align_val_t a) {
  if (void* p = apgen_bench::detail::counted_aligned_alloc(n, static_cast<std::size_t>(a))) return p;
  throw std::bad_alloc();
}
APGEN_BENCH_NOINLINE void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return apgen_bench::detail::counted_aligned_alloc(n, static_cast<std::size_t>(a));
}
APGEN_BENCH_NOINLINE void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return apgen_bench::detail::counted_aligned_alloc(n, static_cast<std::size_t>(a));
}
APGEN_BENCH_NOINLINE void operator delete(void* p) noexcept {
  std::free(p);
}
APGEN_BENCH_NOINLINE void operator delete[](void* p) noexcept {
  std::free(p);
}
APGEN_BENCH_NOINLINE void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
APGEN_BENCH_NOINLINE void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
APGEN_BENCH_NOINLINE void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
APGEN_BENCH_NOINLINE void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
APGEN_BENCH_NOINLINE void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
APGEN_BENCH_NOINLINE void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
APGEN_BENCH_NOINLINE void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
APGEN_BENCH_NOINLINE void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
APGEN_BENCH_NOINLINE void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}
APGEN_BENCH_NOINLINE void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}

namespace apgen_bench {

/// Sets the per-iteration allocation counter from a count taken before the timed loop.
inline void report_allocations(benchmark::State& state, std::uint64_t before) {
  const double n = static_cast<double>(allocations() - before);
  state.counters["allocs_per_step"] = state.iterations() > 0 ? n / static_cast<double>(state.iterations()) : 0.0;
}

/// What one benchmark measured, as the summary tables need it.
struct measured {
  double seconds = std::numeric_limits<double>::quiet_NaN(); ///< median real time per iteration over repetitions
  double allocs = std::numeric_limits<double>::quiet_NaN();  ///< allocs_per_step counter (max over repetitions)
  [[nodiscard]] bool ok() const noexcept { return std::isfinite(seconds); }
};

/// A Google Benchmark reporter that keeps every iteration run, keyed by "function_name/args" (for example
/// "BM_transition/omp/B:64/L:1024"), without the min_time/real_time suffixes, and prints like `Base`: every run
/// when each benchmark runs once, only the median line when it runs several repetitions (the summary takes its own
/// median of the repetitions' times).
template <class Base>
class collecting_reporter : public Base {
public:
  using Base::Base;
  void ReportRuns(const std::vector<benchmark::BenchmarkReporter::Run>& runs) override {
    std::vector<benchmark::BenchmarkReporter::Run> shown;
    for (const auto& r : runs) {
      const bool aggregate = r.run_type == benchmark::BenchmarkReporter::Run::RT_Aggregate;
      if (aggregate ? r.aggregate_name == "median" : r.repetitions <= 1) shown.push_back(r);
      if (aggregate || r.error_occurred || r.iterations <= 0) continue;
      std::string key = r.run_name.function_name;
      if (!r.run_name.args.empty()) key += "/" + r.run_name.args;
      auto& slot = m_runs[key];
      slot.seconds.push_back(r.real_accumulated_time / static_cast<double>(r.iterations));
      if (auto it = r.counters.find("allocs_per_step"); it != r.counters.end())
        slot.allocs = std::isnan(slot.allocs) ? it->second.value : std::max(slot.allocs, it->second.value);
    }
    if (!shown.empty()) Base::ReportRuns(shown);
  }
  /// The run named `key`, or a measurement that is not ok() when it did not run (filtered out, failed).
  [[nodiscard]] measured get(const std::string& key) const {
    measured m;
    auto it = m_runs.find(key);
    if (it == m_runs.end() || it->second.seconds.empty()) return m;
    auto v = it->second.seconds;
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    m.seconds = v[v.size() / 2];
    m.allocs = it->second.allocs;
    return m;
  }

private:
  struct slot_t {
    std::vector<double> seconds;
    double allocs = std::numeric_limits<double>::quiet_NaN();
  };
  std::map<std::string, slot_t> m_runs;
};

/// The bench mains' own view of the command line, read before Google Benchmark consumes it.
struct bench_options {
  bool user_timing = false; ///< --benchmark_min_time or --benchmark_repetitions given: those flags rule
  bool summary = true;      ///< print the summary table (--no_summary turns it off)
  std::string format = "console";
};

/// Reads our flags and removes --no_summary (which Google Benchmark would reject as unknown).
inline bench_options parse_options(int& argc, char** argv) {
  bench_options o;
  int w = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--no_summary") {
      o.summary = false;
      continue;
    }
    if (a.rfind("--benchmark_min_time=", 0) == 0 || a.rfind("--benchmark_repetitions=", 0) == 0) o.user_timing = true;
    if (a.rfind("--benchmark_format=", 0) == 0) o.format = a.substr(std::strlen("--benchmark_format="));
    argv[w++] = argv[i];
  }
  argc = w;
  argv[argc] = nullptr;
  return o;
}

/// Our defaults for every benchmark: real time (threads run inside), microseconds, and unless the command line
/// sets the timing, 3 repetitions of at least 0.1 s each. The summary uses the median repetition: on this
/// 2-vCPU VM anything else running (a compile next door) can stall an OpenMP worker for milliseconds, and the
/// median keeps one such stretch out of the table.
inline benchmark::internal::Benchmark* configure(benchmark::internal::Benchmark* b, const bench_options& o) {
  b->UseRealTime()->Unit(benchmark::kMicrosecond);
  if (!o.user_timing) b->MinTime(0.1)->Repetitions(3);
  return b;
}

/// Registers a benchmark under `name` with the shared options.
template <class F>
void add(const std::string& name, const bench_options& o, F&& f) {
  configure(benchmark::RegisterBenchmark(name.c_str(), std::forward<F>(f)), o);
}

/// Number of threads the omp backend will use (OpenMP's default), or 1 without OpenMP.
inline int omp_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/// Runs the registered benchmarks with a collecting reporter of the requested format; returns it for the summary.
/// The summary goes to stdout in console format and to stderr otherwise, so JSON/CSV output stays parseable.
// CSVReporter is deprecated in Google Benchmark 1.7 but still what --benchmark_format=csv means there.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
inline std::unique_ptr<benchmark::BenchmarkReporter> make_reporter(const bench_options& o) {
  if (o.format == "json") return std::make_unique<collecting_reporter<benchmark::JSONReporter>>();
  if (o.format == "csv") return std::make_unique<collecting_reporter<benchmark::CSVReporter>>();
  const bool tty = isatty(fileno(stdout)) != 0;
  return std::make_unique<collecting_reporter<benchmark::ConsoleReporter>>(
      tty ? benchmark::ConsoleReporter::OO_ColorTabular : benchmark::ConsoleReporter::OO_Tabular);
}

/// Looks a run up in whichever collecting reporter make_reporter built.
inline measured lookup(const benchmark::BenchmarkReporter& rep, const std::string& key) {
  if (auto* c = dynamic_cast<const collecting_reporter<benchmark::ConsoleReporter>*>(&rep)) return c->get(key);
  if (auto* j = dynamic_cast<const collecting_reporter<benchmark::JSONReporter>*>(&rep)) return j->get(key);
  if (auto* v = dynamic_cast<const collecting_reporter<benchmark::CSVReporter>*>(&rep)) return v->get(key);
  return {};
}
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

inline std::FILE* summary_stream(const bench_options& o) {
  return o.format == "console" ? stdout : stderr;
}

} // namespace apgen_bench
