#pragma once
/// \file
/// Backend tags. A backend decides how the per-position and per-row loops of one step run: `serial` is the plain
/// scalar reference every fast path is tested against; `simd` vectorises the loops over the vocabulary; `omp`
/// adds OpenMP threads over positions and rows on top of `simd`; `cuda` is reserved.

#include <apgen/config.hpp>

#include <concepts>
#include <cstddef>
#include <string_view>
#include <type_traits>

namespace apgen::backends {

/// How a loop's iterations are spread over threads: `even` for equal-cost bodies (positions), `uneven` for
/// bodies whose cost varies a lot (rows of different lengths).
enum class loop_balance { even, uneven };

/// Scalar, single thread: the reference.
struct serial {
  static constexpr std::string_view name() noexcept { return "serial"; }
  static constexpr bool available() noexcept { return true; }
  static constexpr bool vectorized = false;
  static constexpr bool threaded = false;
  /// Threads its loops and the denoiser it drives may use.
  static int max_threads() noexcept { return 1; }
};

/// Vector loops over the vocabulary (xsimd), single thread.
struct simd {
  static constexpr std::string_view name() noexcept { return "simd"; }
  static constexpr bool available() noexcept { return true; }
  static constexpr bool vectorized = true;
  static constexpr bool threaded = false;
  static int max_threads() noexcept { return 1; }
};

/// OpenMP threads over positions and rows, vector loops inside. Without OpenMP it runs like `simd`
/// (available() says so).
struct omp {
  static constexpr std::string_view name() noexcept { return "omp"; }
  static constexpr bool available() noexcept { return APGEN_HAS_OPENMP != 0; }
  static constexpr bool vectorized = true;
  static constexpr bool threaded = true;
  static int max_threads() noexcept { return detail::available_threads(); }
};

/// Reserved for the CUDA backend (kernels in a .cuh tree, chosen at compile time under nvcc).
struct cuda {
  static constexpr std::string_view name() noexcept { return "cuda"; }
  static constexpr bool available() noexcept { return false; }
  static constexpr bool vectorized = false;
  static constexpr bool threaded = false;
  static int max_threads() noexcept { return 1; }
};

/// The CPU backends, for tests written once and run over each.
template <class B>
inline constexpr bool is_cpu_backend = std::is_same_v<B, serial> || std::is_same_v<B, simd> || std::is_same_v<B, omp>;

template <class B>
inline constexpr bool always_false = false;

// clang-format off
/// A backend tag: a name, whether it can run here, whether its kernels are vectorised and its loops threaded,
/// and how many threads it lets a step (and the denoiser the step calls) use. It lives here, below core, rather
/// than with the other policy concepts in engine/concepts.hpp, because core's transition is already generic over
/// it. Each tag has a folder of the same name holding its loops (`loops.hpp`) and its logit summary
/// (`summarize.hpp`); a new backend adds a tag, a folder with those files, and a branch in their dispatchers.
///
///     static_assert(apgen::backends::backend<apgen::backends::omp>);
template <class B>
concept backend = requires {
  { B::name() } -> std::convertible_to<std::string_view>;
  { B::available() } -> std::convertible_to<bool>;
  { B::vectorized } -> std::convertible_to<bool>;
  { B::threaded } -> std::convertible_to<bool>;
  { B::max_threads() } -> std::convertible_to<int>;
};
// clang-format on

/// Rejects backends whose kernels do not exist yet, with a message that says what to use instead.
template <class B>
constexpr void require_implemented() {
  static_assert(!std::is_same_v<B, cuda>,
                "apgen: backends::cuda is reserved and not implemented yet; use backends::omp (CPU threads + SIMD), "
                "backends::simd or backends::serial");
  static_assert(is_cpu_backend<B> || std::is_same_v<B, cuda>,
                "apgen: unknown backend tag; use backends::serial, simd or omp");
}

} // namespace apgen::backends

/// The backend used where none is named: omp with OpenMP, else simd. Define APGEN_DEFAULT_BACKEND before including
/// apgen to choose another (for example `apgen::backends::serial`).
#ifndef APGEN_DEFAULT_BACKEND
#if APGEN_HAS_OPENMP
#define APGEN_DEFAULT_BACKEND ::apgen::backends::omp
#else
#define APGEN_DEFAULT_BACKEND ::apgen::backends::simd
#endif
#endif

namespace apgen::backends {
using default_backend = APGEN_DEFAULT_BACKEND;
} // namespace apgen::backends
