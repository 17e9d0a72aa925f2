#pragma once
// Denoisers for tests: deterministic pseudo-random logits that depend only on (row content, position, token), so
// a row's scores never depend on its batch. hashed_model spreads its logits; near_tie_model makes every position
// a permutation of a few values one float ulp apart, so argmaxes tie and confidences of different positions agree
// to the last bits (where backends that summed differently would rank positions differently).

#include <apgen/core/canvas.hpp>
#include <apgen/core/denoiser_output.hpp>
#include <apgen/core/rng.hpp>
#include <apgen/core/step_context.hpp>

#include <cmath>
#include <cstdint>

namespace apgen::testing {

inline std::uint64_t content_hash(std::span<const token_id> row) {
  std::uint64_t h = 0x12345;
  for (auto t : row) h = apgen::detail::splitmix64(h ^ static_cast<std::uint64_t>(t + 1));
  return h;
}

/// Token logits of one row: logit(i, v) = value(hash of (row hash, position, token)), so a row's scores depend on
/// its content alone. Both test models below draw their logits this way.
template <class Tokens, class Value>
void fill_hashed_logits(Tokens&& tok, std::uint64_t row_hash, std::size_t length, std::size_t vocab, Value&& value) {
  for (std::size_t i = 0; i < length; ++i)
    for (std::size_t v = 0; v < vocab; ++v)
      tok(i, v) = value(apgen::detail::splitmix64(row_hash ^ (i * 1315423911ull) ^ (v << 40)));
}

/// Logits in [-scale, scale] drawn from a hash of (row content, position, token). Optional control logits too.
struct hashed_model {
  std::size_t vocab = 9;
  float scale = 6.0f;
  bool controls = false;
  float control_bias = -1.0f; // controls fire rarely by default

  std::size_t vocab_size() const { return vocab; }
  apgen::head_set heads() const { return controls ? apgen::heads::tokens_and_controls : apgen::heads::tokens_only; }
  void predict(const apgen::canvas& c, const apgen::step_context& ctx, apgen::denoiser_output& out) const {
    for (std::size_t r = 0; r < c.rows(); ++r) {
      if (!ctx.is_active(r)) continue;
      const auto row = c.row(r);
      const std::uint64_t h = content_hash(row);
      fill_hashed_logits(out.tokens(r), h, row.size(), vocab, [&](std::uint64_t x) {
        return scale * (static_cast<float>(x >> 40) / static_cast<float>(1ull << 24) * 2.0f - 1.0f);
      });
      if (controls) {
        auto ctl = out.controls(r);
        for (std::size_t i = 0; i < row.size(); ++i)
          for (std::size_t k = 0; k < 3; ++k) {
            const std::uint64_t x = apgen::detail::splitmix64(h ^ (i * 2654435761ull) ^ ((k + 100) << 40));
            ctl(i, k) =
                control_bias + 2.0f * (static_cast<float>(x >> 40) / static_cast<float>(1ull << 24) * 2.0f - 1.0f);
          }
      }
    }
  }
};

/// Logits from a handful of values one ulp apart (and a few impossible tokens at -inf), placed by a hash of (row
/// content, position, token): ties and near-ties everywhere, in token choices and in positions' confidences.
struct near_tie_model {
  std::size_t vocab = 70; // above the vector pass's threshold on every build (4 x 16 lanes)
  std::size_t vocab_size() const { return vocab; }
  apgen::head_set heads() const { return apgen::heads::tokens_only; }
  void predict(const apgen::canvas& c, const apgen::step_context& ctx, apgen::denoiser_output& out) const {
    for (std::size_t r = 0; r < c.rows(); ++r) {
      if (!ctx.is_active(r)) continue;
      const auto row = c.row(r);
      fill_hashed_logits(out.tokens(r), content_hash(row), row.size(), vocab, [](std::uint64_t x) {
        float z = 2.0f;
        for (std::uint64_t k = 0; k < x % 4; ++k) z = std::nextafter(z, 3.0f);
        if ((x >> 8) % 5 == 0) z = 1.0f;
        if ((x >> 16) % 11 == 0) z = -INFINITY;
        return z;
      });
    }
  }
};

} // namespace apgen::testing
