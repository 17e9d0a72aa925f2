#pragma once
/// \file
/// Turns any function into a denoiser. Two shapes are accepted:
///   - whole batch: `f(const canvas&, const step_context&, denoiser_output&)`;
///   - one row at a time: `f(std::span<const token_id> row, matrix_view<float> token_logits)` or, with control
///     heads, `f(row, token_logits, matrix_view<float> control_logits)`. Finished rows are skipped. The row form
///     gets token logits cleared to 0 and control logits at -30 (off), so it may write only what it cares about.
/// The whole-batch form must write the token logits of every position the step reads (ctx.want, or all when it is
/// empty): they are set to NaN before each call, so a score it did not write is reported as invalid_score naming
/// the row and position, instead of the last step's value being used again.

#include <apgen/core/canvas.hpp>
#include <apgen/core/denoiser_output.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/matrix_view.hpp>
#include <apgen/core/step_context.hpp>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <limits>
#include <span>
#include <utility>

namespace apgen {

/// A denoiser backed by a user function. \tparam F one of the shapes above.
template <class F>
class callable_denoiser {
public:
  callable_denoiser(std::size_t vocab_size, F f, head_set heads = heads::tokens_only)
      : m_vocab(vocab_size), m_heads(heads), m_f(std::move(f)) {
    if (vocab_size == 0) detail::fail<invalid_argument>("callable denoiser: vocabulary size must be positive");
    constexpr bool batch = std::invocable<F&, const canvas&, const step_context&, denoiser_output&>;
    constexpr bool row_tokens = std::invocable<F&, std::span<const token_id>, matrix_view<float>>;
    constexpr bool row_both = std::invocable<F&, std::span<const token_id>, matrix_view<float>, matrix_view<float>>;
    static_assert(batch || row_tokens || row_both,
                  "callable_denoiser: the function must take (const canvas&, const step_context&, denoiser_output&), "
                  "(std::span<const token_id>, matrix_view<float>) or (std::span<const token_id>, matrix_view<float>, "
                  "matrix_view<float>)");
    if (heads.controls && !batch && !row_both)
      detail::fail<invalid_argument>(
          "callable denoiser: control heads were declared but the function writes token logits only");
  }

  [[nodiscard]] std::size_t vocab_size() const noexcept { return m_vocab; }
  [[nodiscard]] head_set heads() const noexcept { return m_heads; }

  void predict(const canvas& c, const step_context& ctx, denoiser_output& out) {
    if constexpr (std::invocable<F&, const canvas&, const step_context&, denoiser_output&>) {
      // A score the function does not write must not be read as the last step's value: NaN is reported.
      const auto tokens = out.token_data();
      std::fill(tokens.begin(), tokens.end(), std::numeric_limits<float>::quiet_NaN());
      m_f(c, ctx, out);
    } else {
      for (std::size_t r = 0; r < c.rows(); ++r) {
        if (!ctx.is_active(r)) continue;
        out.tokens(r).fill(0.0f);
        if constexpr (std::invocable<F&, std::span<const token_id>, matrix_view<float>, matrix_view<float>>)
          m_f(c.row(r), out.tokens(r), out.controls(r));
        else
          m_f(c.row(r), out.tokens(r));
      }
    }
  }

private:
  std::size_t m_vocab;
  head_set m_heads;
  F m_f;
};

/// `auto model = apgen::make_denoiser(vocab.size(), [](auto row, auto logits) { ... });`
template <class F>
[[nodiscard]] callable_denoiser<F> make_denoiser(std::size_t vocab_size, F f, head_set heads = heads::tokens_only) {
  return callable_denoiser<F>(vocab_size, std::move(f), heads);
}

} // namespace apgen
