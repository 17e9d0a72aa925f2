#pragma once
/// \file
/// A stochastic generator of two-sided Dyck-k words by insertion. Any such word can be built from the empty word
/// by inserting cancelling pairs "x x^-1" at any gap, so the oracle repeats three-step rounds on [BOS] w:
///   step % 3 == 0, grow:  draw whether to stop (probability `stop`); if not, choose gaps (each with probability
///                         `rate`, at least one, within the length limit) and insert a MASK after each chosen
///                         position (BOS covers the gap at the front);
///   step % 3 == 1, open:  every MASK becomes a random letter x and inserts a MASK after itself;
///   step % 3 == 2, close: every MASK becomes the inverse of the letter before it.
/// A round that inserts nothing leaves the row unchanged, so the generation ends at a fixed point. Every output is
/// a two-sided Dyck word, and every word within the length limit has positive probability (single-gap rounds can
/// build it pair by pair). Randomness comes from the counter RNG, so a row's word depends on its key and the seed.

#include <apgen/core/canvas.hpp>
#include <apgen/core/denoiser_output.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/rng.hpp>
#include <apgen/core/step_context.hpp>
#include <apgen/core/vocabulary.hpp>
#include <apgen/denoisers/oracle_scores.hpp>
#include <apgen/tasks/dyck/task.hpp>

#include <cstddef>
#include <cstdint>

namespace apgen::tasks::dyck {

/// Settings of the Dyck oracle.
struct oracle_options {
  std::size_t pairs = 2;       ///< k: number of bracket pairs
  std::size_t max_length = 16; ///< longest word generated (BOS not counted)
  double stop = 0.15;          ///< probability that a grow step ends the word
  double rate = 0.3;           ///< probability that a gap receives a pair in a grow step
};

/// The Dyck-k insertion process as a stochastic denoiser.
class oracle {
public:
  /// `v` must be make_vocabulary(options.pairs).
  oracle(const vocabulary& v, oracle_options opt)
      : m_vocab(v.size()), m_mask(v.mask()), m_bos(v.require_bos("dyck oracle")), m_opt(opt) {
    if (v.size() != 2 + 2 * opt.pairs)
      apgen::detail::fail<shape_mismatch>("dyck oracle: vocabulary has ", v.size(), " tokens, expected ",
                                          2 + 2 * opt.pairs, " for k = ", opt.pairs);
    if (!(opt.stop >= 0 && opt.stop <= 1) || !(opt.rate >= 0 && opt.rate <= 1))
      apgen::detail::fail<invalid_argument>("dyck oracle: stop and rate must be probabilities");
  }

  [[nodiscard]] std::size_t vocab_size() const noexcept { return m_vocab; }
  [[nodiscard]] head_set heads() const noexcept { return heads::tokens_and_controls; }
  [[nodiscard]] const oracle_options& options() const noexcept { return m_opt; }

  void predict(const canvas& c, const step_context& ctx, denoiser_output& out) const {
    const counter_rng rng(ctx.seed, rng_stream::denoiser);
    for (std::size_t r = 0; r < c.rows(); ++r) {
      if (!ctx.is_active(r)) continue;
      auto t = c.row(r);
      auto tok = out.tokens(r);
      auto ctl = out.controls(r);
      if (t.empty() || t[0] != m_bos)
        apgen::detail::fail<invalid_token>("dyck oracle: row ", r, " must start with BOS");
      const std::uint64_t key = c.row_key(r);
      const std::uint32_t phase = ctx.step % 3;
      // Grow-step choices: one row-level draw (index 1 at position 0) decides stopping; per-gap draws pick gaps.
      const std::size_t letters = t.size() - 1;
      std::size_t budget = letters + 2 <= m_opt.max_length ? (m_opt.max_length - letters) / 2 : 0;
      const bool stop = phase == 0 && (budget == 0 || rng.uniform(key, 0, ctx.step, 1) < m_opt.stop);
      std::size_t forced_gap = t.size();
      if (phase == 0 && !stop) {
        bool any = false;
        for (std::size_t i = 0; i < t.size() && !any; ++i)
          any = rng.uniform(key, static_cast<std::uint32_t>(i), ctx.step) < m_opt.rate;
        if (!any) forced_gap = rng.below(static_cast<std::uint32_t>(t.size()), key, 0, ctx.step, 2);
      }
      for (std::size_t i = 0; i < t.size(); ++i) {
        const auto pos = static_cast<std::uint32_t>(i);
        bool insert = false;
        token_id y = t[i];
        if (phase == 0) {
          if (t[i] == m_mask)
            apgen::detail::fail<invalid_token>("dyck oracle: row ", r, " holds a MASK at ", i,
                                               " in a grow step; start from [BOS] w at step 0");
          insert = !stop && budget > 0 && (i == forced_gap || rng.uniform(key, pos, ctx.step) < m_opt.rate);
          if (insert) --budget;
        } else if (t[i] == m_mask) {
          if (phase == 1) {
            y = first_letter +
                static_cast<token_id>(rng.below(static_cast<std::uint32_t>(2 * m_opt.pairs), key, pos, ctx.step));
            insert = true;
          } else {
            if (i == 0 || t[i - 1] == m_mask || t[i - 1] == m_bos)
              apgen::detail::fail<invalid_token>("dyck oracle: row ", r, " has a MASK at ", i,
                                                 " with no letter before it in a close step");
            y = inverse(t[i - 1]);
          }
        }
        oracles::write_choice(tok, i, y);
        oracles::write_control(ctl, i, control_remask, false);
        oracles::write_control(ctl, i, control_insert, insert);
        oracles::write_control(ctl, i, control_delete, false);
      }
    }
  }

private:
  std::size_t m_vocab;
  token_id m_mask, m_bos;
  oracle_options m_opt;
};

} // namespace apgen::tasks::dyck
