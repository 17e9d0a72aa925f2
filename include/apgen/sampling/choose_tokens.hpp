#pragma once
/// \file
/// The token pass of a step: for every position a schedule asked about (step_plan::want), read its logits once,
/// check them, choose y_i with the sampler and score it with the confidence measure. Positions are independent, so
/// threaded backends split them across threads with identical results.

#include <apgen/backends/loops.hpp>
#include <apgen/backends/summarize.hpp>
#include <apgen/core/canvas.hpp>
#include <apgen/core/denoiser_output.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/step_context.hpp>
#include <apgen/core/step_plan.hpp>
#include <apgen/sampling/confidence.hpp>
#include <apgen/sampling/distribution.hpp>
#include <apgen/sampling/samplers.hpp>

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace apgen::sampling {

/// Tokens a choice must never produce for this canvas: MASK, and PAD when the vocabulary has one.
[[nodiscard]] inline token_filter default_filter(const canvas& c, std::optional<token_id> pad) {
  token_filter f{c.mask()};
  if (pad) f.add(*pad);
  return f;
}

namespace detail {
/// The logits `z` with every id outside allowed set `set` at -infinity (an impossible token), in a per-thread
/// buffer: a restricted position is then summarised, chosen and scored by the same code as any other.
[[nodiscard]] inline std::span<const float> restrict_to(std::span<const float> z, const std::vector<token_id>& set) {
  thread_local std::vector<float> restricted;
  restricted.assign(z.size(), -std::numeric_limits<float>::infinity());
  for (const token_id t : set)
    if (static_cast<std::size_t>(t) < z.size())
      restricted[static_cast<std::size_t>(t)] = z[static_cast<std::size_t>(t)];
  return restricted;
}
} // namespace detail

/// Fills plan.token and plan.score wherever plan.want asks. A position whose encoding (ctx.encodings) names an
/// allowed set is chosen and scored among that set only. Throws invalid_score naming the row and position of
/// the first NaN or infinite logit met.
template <backends::backend Backend, class Sampler>
void choose_tokens(const canvas& c, const denoiser_output& out, const Sampler& sampler, confidence_measure measure,
                   const token_filter& filter, const step_context& ctx, step_plan& plan) {
  const std::size_t n = plan.offsets.back();
  if (out.total_positions() != n)
    apgen::detail::fail<shape_mismatch>("token pass: scores cover ", out.total_positions(), " positions, canvas has ",
                                        n);
  if (out.vocab_size() != c.vocab_size())
    apgen::detail::fail<shape_mismatch>("token pass: scores have ", out.vocab_size(), " columns, vocabulary has ",
                                        c.vocab_size());
  const auto all = out.token_data();
  const std::size_t V = out.vocab_size();
  if (all.size() != n * V)
    apgen::detail::fail<shape_mismatch>("token pass: the schedule needs token scores and the denoiser wrote none");
  const counter_rng noise(ctx.seed, rng_stream::token_noise);
  // About 0.2 ns a logit on the vector path, 4 ns on the scalar one (a double exp each; small vocabularies take it).
  const bool vector_path = Backend::vectorized && V >= backends::small_vocabulary<backends::simd_impl::lanes>;
  const double ns_per_position = (vector_path ? 0.2 : 4.0) * static_cast<double>(V);
  backends::for_each_index<Backend>(
      n,
      [&](std::size_t k) {
        const std::uint8_t want = plan.want[k];
        if (want == score_nothing) return;
        const std::size_t r = static_cast<std::size_t>(std::upper_bound(plan.offsets.begin(), plan.offsets.end(), k) -
                                                       plan.offsets.begin()) -
                              1;
        const std::size_t i = k - plan.offsets[r];
        std::span<const float> z = all.subspan(k * V, V);
        if (const row_encoding* e = ctx.encoding_of(r); e && ctx.schema)
          if (const std::uint16_t cls = e->allowed_class(i))
            z = detail::restrict_to(z, ctx.schema->allowed_sets[cls - 1u]);
        const distribution_summary s = summarize<Backend>(z, filter);
        if (!s.finite())
          apgen::detail::fail<invalid_score>(
              "token scores of row ", r, ", position ", i,
              " contain NaN or +infinity, or no allowed token has a finite score (-infinity marks an "
              "impossible token; a whole-batch denoiser must write every score the step reads)");
        const auto pos = static_cast<std::uint32_t>(i);
        if (want == score_choice) {
          const token_id y = sampler.choose(z, filter, s, draw_key{noise, c.row_key(r), pos, ctx.step});
          plan.token[k] = y;
          plan.score[k] = confidence(measure, s, z[static_cast<std::size_t>(y)], ctx.seed, c.row_key(r), pos, ctx.step);
        } else {
          const token_id x = c.row(r)[i];
          plan.token[k] = x;
          plan.score[k] = static_cast<float>(s.probability(z[static_cast<std::size_t>(x)]));
        }
      },
      ns_per_position);
}

} // namespace apgen::sampling
