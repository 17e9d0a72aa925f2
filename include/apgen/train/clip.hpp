#pragma once
/// \file
/// Global-norm gradient clipping, as torch.nn.utils.clip_grad_norm_ (2-norm) does it:
///
///   norm  = sqrt(sum over every parameter and element of g^2)
///   scale = max_norm / (norm + 1e-6); when scale < 1, every gradient is multiplied by scale
///
/// The norm is accumulated in double, one running sum over the parameters in the order given and their elements
/// in order, so it is the same bits whatever the thread count. The scale is rounded to float once and every
/// gradient element multiplied by it.
///
/// One deliberate difference from PyTorch: a non-finite norm (a NaN or infinite gradient) leaves the gradients
/// untouched and is returned as is (PyTorch would multiply them by NaN), so that the caller can skip the step; with
/// `error_if_nonfinite` it throws instead, naming the first parameter with a non-finite gradient.
///
/// Usage:
///   const double norm = apgen::train::clip_grad_norm(params, 1.0); // before opt.step(params, lr)

#include <apgen/core/errors.hpp>
#include <apgen/train/optimizer.hpp>

#include <cmath>
#include <cstddef>
#include <span>

namespace apgen::train {

/// The global 2-norm of the gradients of `params`, accumulated in double in a fixed order.
[[nodiscard]] inline double grad_norm(std::span<const parameter> params) noexcept {
  double sum = 0.0;
  for (const parameter& p : params)
    for (const float g : p.grad) sum += static_cast<double>(g) * static_cast<double>(g);
  return std::sqrt(sum);
}

/// Scales the gradients of `params` so that their global 2-norm is at most about `max_norm` (see \file) and
/// returns the norm before clipping. Throws apgen::invalid_argument unless max_norm is finite and > 0, and
/// apgen::invalid_score for a non-finite norm when `error_if_nonfinite`.
inline double clip_grad_norm(std::span<const parameter> params, double max_norm, bool error_if_nonfinite = false) {
  if (!(max_norm > 0) || !std::isfinite(max_norm))
    apgen::detail::fail<invalid_argument>("clip_grad_norm: max_norm must be finite and > 0, got ", max_norm);
  const double norm = grad_norm(params);
  if (!std::isfinite(norm)) {
    if (error_if_nonfinite) {
      for (const parameter& p : params)
        for (std::size_t j = 0; j < p.grad.size(); ++j)
          if (!std::isfinite(p.grad[j]))
            apgen::detail::fail<invalid_score>("clip_grad_norm: gradient of \"", p.name, "\" element ", j, " is ",
                                               p.grad[j]);
      // Every element finite but the sum overflowed double: not reachable from float inputs of realistic size.
      apgen::detail::fail<invalid_score>("clip_grad_norm: the gradient norm is ", norm);
    }
    return norm;
  }
  const double scale = max_norm / (norm + 1e-6);
  if (scale < 1.0) {
    const auto s = static_cast<float>(scale);
    for (const parameter& p : params)
      for (float& g : p.grad) g *= s;
  }
  return norm;
}

} // namespace apgen::train
