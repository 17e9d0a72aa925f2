#pragma once
/// \file
/// How exact algorithmic denoisers ("oracles") express a decision as scores: a large logit gap makes the chosen
/// token the argmax (and its probability ~1), and control logits of +/- a large value fire or stay off under any
/// threshold in (0.0001, 0.9999).

#include <apgen/config.hpp>
#include <apgen/core/denoiser_output.hpp>
#include <apgen/core/matrix_view.hpp>

#include <cstddef>

namespace apgen::oracles {

inline constexpr float decided_logit = 12.0f;

/// Row i of `tokens` becomes a sharp distribution on `token`.
inline void write_choice(matrix_view<float> tokens, std::size_t i, token_id token) {
  auto row = tokens.row(i);
  for (auto& v : row) v = 0.0f;
  row[static_cast<std::size_t>(token)] = decided_logit;
}

/// Control k of position i fires (on) or not.
inline void write_control(matrix_view<float> controls, std::size_t i, std::size_t k, bool on) {
  controls(i, k) = on ? decided_logit : -decided_logit;
}

} // namespace apgen::oracles
