#pragma once
/// \file
/// What every policy may know about the step in progress besides the canvas: the seed, the step index and each
/// row's progress. Denoisers use it for stochastic choices (through counter_rng) and to skip finished rows.

#include <apgen/core/row_encoding.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

namespace apgen {

/// Progress of one row within a generation.
struct row_progress {
  std::uint32_t steps = 0;         ///< steps this row has taken so far
  std::uint32_t initial_masks = 0; ///< MASK count when the generation started (count schedules read it)
};

/// The step in progress.
struct step_context {
  std::uint64_t seed = 0;
  std::uint32_t step = 0;                   ///< 0-based step index of this generation
  std::span<const std::uint8_t> active{};   ///< per row: 1 while the row runs (empty = all rows run)
  std::span<const row_progress> progress{}; ///< per row (empty outside a generator)
  /// Per packed position (rows one after another, by current length): nonzero where the token pass will read the
  /// token logits this step. A denoiser may skip its token head elsewhere (an ARM step reads one position); control
  /// logits are always needed where the schedule reads controls. Empty means every position is read.
  std::span<const std::uint8_t> want{};
  /// Threads the generator's backend lets this step use (1 for serial and simd; 0 outside a generator: no cap). A
  /// denoiser that threads its own work keeps within it; apgen's own loops (the transformer's included) already
  /// do, since the generator caps them for the step (apgen::detail::thread_limit_scope).
  int max_threads = 0;
  /// Per row, the task's encoding of the row as it is now (features, allowed classes), made once per step by the
  /// generator's row_encoder; empty when there is no encoder. A model with feature embeddings reads its features
  /// here, and the token pass its allowed sets, so both see the same encoding (core/row_encoding.hpp).
  std::span<const row_encoding> encodings{};
  const feature_schema* schema = nullptr; ///< the schema of `encodings` (null when they are empty)

  [[nodiscard]] bool is_active(std::size_t r) const noexcept { return active.empty() || active[r] != 0; }
  [[nodiscard]] row_progress progress_of(std::size_t r) const noexcept {
    return progress.empty() ? row_progress{} : progress[r];
  }
  /// Whether packed position k's token logits are read this step.
  [[nodiscard]] bool wants_tokens(std::size_t k) const noexcept { return want.empty() || want[k] != 0; }
  /// The encoding of row r, or null without an encoder.
  [[nodiscard]] const row_encoding* encoding_of(std::size_t r) const noexcept {
    return encodings.empty() ? nullptr : &encodings[r];
  }
};

} // namespace apgen
