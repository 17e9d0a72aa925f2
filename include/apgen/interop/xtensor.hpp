#pragma once
/// \file
/// xtensor views of score buffers (the only header that includes xtensor). Debian ships xtensor 0.24 with headers
/// under <xtensor/...>; newer releases moved them under <xtensor/containers/...>, so both layouts are handled.

#include <apgen/core/denoiser_output.hpp>

#if __has_include(<xtensor/containers/xadapt.hpp>)
#include <xtensor/containers/xadapt.hpp>
#else
#include <xtensor/xadapt.hpp>
#endif

#include <array>
#include <cstddef>

namespace apgen::interop {

/// Row r's token logits as an xtensor adaptor of shape {length, V} over the buffer (no copy).
[[nodiscard]] inline auto token_logits_xt(denoiser_output& out, std::size_t r) {
  auto v = out.tokens(r);
  const std::array<std::size_t, 2> shape{v.rows(), v.cols()};
  return xt::adapt(v.data(), v.rows() * v.cols(), xt::no_ownership(), shape);
}

} // namespace apgen::interop
