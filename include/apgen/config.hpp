#pragma once
/// \file
/// Compile-time configuration: OpenMP detection, the pragma macro that vanishes without OpenMP, and the
/// default backend choice. Every other header includes this one first.

#include <cstddef>

#if defined(_OPENMP)
#include <omp.h>
#define APGEN_HAS_OPENMP 1
#else
#define APGEN_HAS_OPENMP 0
#endif

#define APGEN_DETAIL_STRINGIFY(x) #x
/// `APGEN_PRAGMA_OMP(parallel for)` expands to `#pragma omp parallel for` with OpenMP and to nothing without.
#if APGEN_HAS_OPENMP
#define APGEN_PRAGMA_OMP(x) _Pragma(APGEN_DETAIL_STRINGIFY(omp x))
#else
#define APGEN_PRAGMA_OMP(x)
#endif

/// Set to 1 to ask for the CUDA backend; the backend is reserved and not implemented yet, so using its tag fails
/// with a static_assert that explains the alternatives.
#ifndef APGEN_ENABLE_CUDA
#define APGEN_ENABLE_CUDA 0
#endif

namespace apgen {
namespace detail {
/// The calling thread's cap on the threads apgen's loops may start (0: none). A generator sets it for its step,
/// from its backend (`serial` and `simd` run their denoiser on one thread), with thread_limit_scope.
inline thread_local int thread_limit = 0;

/// Threads an OpenMP region started here would get (1 without OpenMP), within thread_limit. Parallel loops run
/// inline when it is 1: a region with one thread still costs microseconds and, under LLVM's libomp, heap
/// allocations.
[[nodiscard]] inline int available_threads() noexcept {
#if APGEN_HAS_OPENMP
  const int threads = omp_get_max_threads();
  return thread_limit > 0 && thread_limit < threads ? thread_limit : threads;
#else
  return 1;
#endif
}

/// Caps available_threads() on this thread while it lives (limit <= 0: no cap), restoring the previous cap.
class thread_limit_scope {
public:
  explicit thread_limit_scope(int limit) noexcept : m_previous(thread_limit) { thread_limit = limit; }
  thread_limit_scope(const thread_limit_scope&) = delete;
  thread_limit_scope& operator=(const thread_limit_scope&) = delete;
  ~thread_limit_scope() { thread_limit = m_previous; }

private:
  int m_previous;
};

/// The least work, in estimated nanoseconds on one thread, worth a parallel region: below it a loop runs inline.
/// A team costs about 0.6 us on 2 threads while the workers still spin from the last region, and 10-20 us once
/// they have gone to sleep (a two-position step was reported at 17.5 us threaded against 0.2 us inline); 20 us of
/// work gains from a second thread either way. bench/bench_step_threads measures small and large steps at 1 and
/// 2 threads.
inline constexpr double parallel_grain_ns = 20000.0;

/// True when work of about `estimated_ns` single-thread nanoseconds should be shared among threads.
[[nodiscard]] inline bool worth_threads(double estimated_ns) noexcept {
  return estimated_ns >= parallel_grain_ns && available_threads() > 1;
}

/// Runs body(thread, team_size) on a team of at most `want` OpenMP threads, or inline as body(0, 1) when want is 1
/// or OpenMP is off. Callers divide their work by hand (blocks by thread, or an atomic counter): LLVM's libomp
/// allocates on every entry to a worksharing loop (`omp for`), a plain parallel region does not. The runtime may
/// give fewer threads than asked, so bodies must loop over their share with the team size they are given.
template <class Body>
void run_team(std::size_t want, Body&& body) {
#if APGEN_HAS_OPENMP
  if (want > 1) {
    APGEN_PRAGMA_OMP(parallel num_threads(static_cast<int>(want)))
    body(static_cast<std::size_t>(omp_get_thread_num()), static_cast<std::size_t>(omp_get_num_threads()));
    return;
  }
#else
  (void)want;
#endif
  body(std::size_t{0}, std::size_t{1});
}
} // namespace detail

/// The integer type of token ids everywhere in the library (host and device agree on it).
using token_id = int;
} // namespace apgen
