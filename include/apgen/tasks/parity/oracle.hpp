#pragma once
/// \file
/// The exact parity process of AP-MDM ("remask, then delete"): on [BOS] b1 .. bn, every step
///   - deletes every MASK,
///   - remasks every decoded 0 (zeros never change parity),
///   - remasks the first two positions after BOS when both are 1 (a pair of ones cancels).
/// The row shrinks to [BOS] (even) or [BOS] 1 (odd) and then stays put (a fixed point). Each rule looks at most
/// two positions from BOS, so on length-2 inputs the process has exactly seven distinct transitions
/// ([BOS]00 -> [BOS]MM, [BOS]01 -> [BOS]M1, [BOS]10 -> [BOS]1M, [BOS]11 -> [BOS]MM, [BOS]MM -> [BOS],
/// [BOS]M1 -> [BOS]1, [BOS]1M -> [BOS]1): the training set of the paper's length-generalisation experiment.

#include <apgen/core/canvas.hpp>
#include <apgen/core/denoiser_output.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/step_context.hpp>
#include <apgen/core/vocabulary.hpp>
#include <apgen/denoisers/oracle_scores.hpp>
#include <apgen/tasks/parity/task.hpp>

#include <cstddef>

namespace apgen::tasks::parity {

/// The parity oracle as a denoiser (token and control scores from the rules above).
class oracle {
public:
  /// Needs a vocabulary with BOS and the symbols "0" and "1" (make_vocabulary()).
  explicit oracle(const vocabulary& v)
      : m_vocab(v.size()), m_mask(v.mask()), m_bos(v.require_bos("parity oracle")), m_zero(v.id("0")),
        m_one(v.id("1")) {}

  [[nodiscard]] std::size_t vocab_size() const noexcept { return m_vocab; }
  [[nodiscard]] head_set heads() const noexcept { return heads::tokens_and_controls; }

  void predict(const canvas& c, const step_context& ctx, denoiser_output& out) const {
    for (std::size_t r = 0; r < c.rows(); ++r) {
      if (!ctx.is_active(r)) continue;
      auto t = c.row(r);
      auto tok = out.tokens(r);
      auto ctl = out.controls(r);
      if (!t.empty() && t[0] != m_bos)
        detail::fail<invalid_token>("parity oracle: row ", r, " does not start with BOS");
      const bool pair = t.size() >= 3 && t[1] == m_one && t[2] == m_one;
      for (std::size_t i = 0; i < t.size(); ++i) {
        const token_id x = t[i];
        if ((x != m_mask && x != m_zero && x != m_one) && !(x == m_bos && i == 0))
          detail::fail<invalid_token>("parity oracle: row ", r, ", position ", i, " holds token ", x, ", not a bit");
        // A MASK is always deleted here, so its token choice never matters; keep it well defined anyway.
        oracles::write_choice(tok, i, x == m_mask ? m_zero : x);
        oracles::write_control(ctl, i, control_remask, x == m_zero || (pair && (i == 1 || i == 2)));
        oracles::write_control(ctl, i, control_insert, false);
        oracles::write_control(ctl, i, control_delete, x == m_mask);
      }
    }
  }

private:
  std::size_t m_vocab;
  token_id m_mask, m_bos, m_zero, m_one;
};

} // namespace apgen::tasks::parity
