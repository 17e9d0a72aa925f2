#pragma once
/// \file
/// A Dyck-k insertion process a model can learn: every move is a function of the row alone (no step counter), and
/// every random choice is a token draw, so a transformer with thresholded control bits and a sampled token head
/// can run it. (tasks::dyck::oracle, the process of examples/02, reads the step number to know its phase; a model
/// sees only the row.)
///
/// Two tokens join the letters: "_" (a gap that chose no pair this round) and "$" (the end). A round on [BOS] w:
///   grow    (no MASK, no "$"): BOS and every letter insert a MASK after themselves, one per gap; a "_" left from
///           the last round is remasked;
///   choose  (a MASK right after BOS): a MASK after a MASK (a remasked "_") is deleted; every other MASK is a gap
///           and draws a letter x, "_", or (the first gap only) "$", and inserts a MASK after itself;
///   pair    (MASKs, none right after BOS, so a drawn token stands there): a MASK after a letter x becomes x^-1, so
///           each drawn letter gains its inverse; a MASK after "_" or "$" is deleted.
/// Drawing "$" ends the word after that round: with "$" at position 1, a row with no MASK remasks its "_"s (finish)
/// and the next deletes those MASKs (clean); [BOS] $ w is then a fixed point. Every row the process reaches falls in
/// exactly one of these phases by what it holds (process_phase_of), so the moves are learnable from the row: in a
/// choose row each letter follows a MASK, in a pair row each letter follows a letter, BOS or "_". Every output is a
/// two-sided Dyck word (pairs x x^-1 inserted into gaps), and every word has positive probability (one pair a
/// round). The oracle draws letters with probability `rate` a gap while its length budget lasts, and "$" with
/// probability `stop`.

#include <apgen/core/canvas.hpp>
#include <apgen/core/denoiser_output.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/rng.hpp>
#include <apgen/core/row_encoding.hpp>
#include <apgen/core/step_context.hpp>
#include <apgen/core/vocabulary.hpp>
#include <apgen/denoisers/oracle_scores.hpp>
#include <apgen/tasks/dyck/task.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace apgen::tasks::dyck {

/// MASK, BOS, the 2k letters of make_vocabulary(k), then "_" and "$".
[[nodiscard]] inline vocabulary make_process_vocabulary(std::size_t k) {
  if (k == 0 || k > max_pairs)
    apgen::detail::fail<invalid_argument>("dyck: k must be in [1, ", max_pairs, "], got ", k);
  static constexpr const char* symbols[] = {"(", ")", "[", "]", "{", "}", "<", ">"};
  std::vector<std::string> s(symbols, symbols + 2 * k);
  s.emplace_back("_");
  s.emplace_back("$");
  return vocabulary(s, special_names{"[MASK]", "", "[BOS]", ""});
}

/// The ids of "_" and "$" in make_process_vocabulary(k).
[[nodiscard]] constexpr token_id hole_token(std::size_t k) noexcept {
  return first_letter + static_cast<token_id>(2 * k);
}
[[nodiscard]] constexpr token_id end_token(std::size_t k) noexcept {
  return hole_token(k) + 1;
}

/// The phase a row is in (see the file comment); `done` is [BOS] $ w, the fixed point.
enum class process_phase : std::uint8_t { grow, choose, pair, finish, clean, done };

[[nodiscard]] constexpr std::string_view to_string(process_phase p) noexcept {
  switch (p) {
  case process_phase::grow:
    return "grow";
  case process_phase::choose:
    return "choose";
  case process_phase::pair:
    return "pair";
  case process_phase::finish:
    return "finish";
  case process_phase::clean:
    return "clean";
  case process_phase::done:
    return "done";
  }
  return "?";
}

/// The phase of `row` (process tokens of k pairs). Throws invalid_token naming the position when the row is not one
/// the process can reach: no BOS in front, a token outside the vocabulary, "$" anywhere but position 1, or a MASK
/// where no phase puts one.
[[nodiscard]] inline process_phase process_phase_of(std::span<const token_id> row, std::size_t k) {
  const token_id mask = 0, bos = 1, hole = hole_token(k), end = end_token(k);
  auto bad = [&](std::size_t i, const char* why) {
    apgen::detail::fail<invalid_token>("dyck process: ", why, " at position ", i);
  };
  if (row.empty() || row[0] != bos) bad(0, "the row must start with BOS");
  bool any_mask = false, any_hole = false;
  for (std::size_t i = 1; i < row.size(); ++i) {
    const token_id t = row[i];
    if (t < 0 || t > end || t == bos) bad(i, "a token that is not a MASK, letter, \"_\" or \"$\"");
    if (t == end && i != 1) bad(i, "\"$\" stands only right after BOS");
    any_mask |= t == mask;
    any_hole |= t == hole;
  }
  const bool ended = row.size() > 1 && row[1] == end;
  if (!any_mask) return ended ? (any_hole ? process_phase::finish : process_phase::done) : process_phase::grow;
  if (ended) return row.size() > 2 && row[2] == mask ? process_phase::pair : process_phase::clean;
  return row[1] == mask ? process_phase::choose : process_phase::pair;
}

/// One position's move: the token it becomes when it is a MASK that is unmasked, and its three bits.
struct process_move {
  token_id token = 0;
  bool remask = false, insert = false, erase = false;
  bool draw = false; ///< the token is a random draw (a choose-phase gap), not a function of the row
};

/// The moves of every position of `row` in `phase` (process_phase_of(row, k)); a drawn gap gets token -1 and
/// draw = true, and the caller draws it. Throws invalid_token for a MASK with nothing a phase allows before it.
[[nodiscard]] inline std::vector<process_move> process_moves(std::span<const token_id> row, std::size_t k,
                                                             process_phase phase) {
  const token_id mask = 0, bos = 1, hole = hole_token(k), end = end_token(k);
  std::vector<process_move> out(row.size());
  auto is_letter = [&](token_id t) { return t >= first_letter && t < hole; };
  for (std::size_t i = 0; i < row.size(); ++i) {
    const token_id t = row[i];
    auto& m = out[i];
    m.token = t;
    const token_id before = i > 0 ? row[i - 1] : mask;
    switch (phase) {
    case process_phase::grow:
      if (t == hole)
        m.remask = true;
      else
        m.insert = true;
      break;
    case process_phase::choose:
      if (t != mask) break;
      if (before == mask) {
        m.erase = true;
      } else if (before == bos || is_letter(before)) {
        m.draw = true;
        m.token = -1;
        m.insert = true;
      } else {
        apgen::detail::fail<invalid_token>("dyck process: a MASK after \"_\" or \"$\" in a choose row at position ", i);
      }
      break;
    case process_phase::pair:
      if (t != mask) break;
      if (is_letter(before))
        m.token = inverse(before);
      else if (before == hole || before == end)
        m.erase = true;
      else
        apgen::detail::fail<invalid_token>("dyck process: a MASK after BOS or a MASK in a pair row at position ", i);
      break;
    case process_phase::finish:
      m.remask = t == hole;
      break;
    case process_phase::clean:
      m.erase = t == mask;
      break;
    case process_phase::done:
      break;
    }
  }
  return out;
}

/// The word of a finished row ([BOS] $ w, or [BOS] w from a row that never drew "$"): its letters. Throws
/// invalid_token when a MASK or "_" is left (the row is not finished).
[[nodiscard]] inline std::vector<token_id> process_word(std::span<const token_id> row, std::size_t k) {
  std::vector<token_id> word;
  for (std::size_t i = 1; i < row.size(); ++i) {
    if (row[i] == end_token(k) && i == 1) continue;
    if (row[i] < first_letter || row[i] >= hole_token(k))
      apgen::detail::fail<invalid_token>("dyck process: the row is not finished, position ", i, " holds token ",
                                         row[i]);
    word.push_back(row[i]);
  }
  return word;
}

/// The token sets of the process's grammar, for the token pass: "$" may be drawn only at position 1 (the first
/// gap of a choose row), every other position chooses among the letters and "_". A model learns where "$" goes
/// from the rows it saw; on rows longer than those it can put one elsewhere, which no phase reaches, so a sampler
/// that runs a learned process gives it this encoder (tasks::dyck::sample_process does). It restricts where the
/// end may stand, not which letters pair: the words' validity is still the model's.
struct process_encoder {
  std::size_t pairs = 2;

  [[nodiscard]] feature_schema schema() const {
    feature_schema s;
    s.allowed_sets.resize(2);
    for (token_id t = first_letter; t <= hole_token(pairs); ++t) s.allowed_sets[0].push_back(t);
    s.allowed_sets[1] = s.allowed_sets[0];
    s.allowed_sets[1].push_back(end_token(pairs));
    return s;
  }
  void encode(std::span<const token_id> row, row_encoding& out) const {
    out.features.clear();
    out.allowed.assign(row.size(), 1);
    if (row.size() > 1) out.allowed[1] = 2;
  }
};

/// Tokens a row of the process needs when its word has at most `max_letters` letters: a choose row holds the
/// word, a drawn token and a MASK for each of its max_letters + 1 gaps.
[[nodiscard]] constexpr std::size_t process_capacity(std::size_t max_letters) noexcept {
  return 3 * max_letters + 4;
}

/// Settings of the process oracle.
struct process_options {
  std::size_t pairs = 2;       ///< k
  std::size_t max_length = 32; ///< a gap draws a letter only while the word stays within this many letters
  double stop = 0.12;          ///< probability that the first gap draws "$"
  double rate = 0.3;           ///< probability that a gap draws a letter (uniform over the 2k), budget allowing
};

/// The process of the file comment as a stochastic denoiser: sharp scores for its moves, its own draws for the
/// gaps (counter RNG keyed by row key, position and step). Gaps draw left to right against the length budget.
class process_oracle {
public:
  /// `v` must be make_process_vocabulary(options.pairs).
  process_oracle(const vocabulary& v, process_options opt) : m_vocab(v.size()), m_opt(opt) {
    if (v.size() != 4 + 2 * opt.pairs || v.mask() != 0 || v.bos() != token_id{1})
      apgen::detail::fail<shape_mismatch>("dyck process oracle: vocabulary has ", v.size(), " tokens, expected ",
                                          4 + 2 * opt.pairs, " from make_process_vocabulary(", opt.pairs, ")");
    if (!(opt.stop >= 0 && opt.stop <= 1) || !(opt.rate >= 0 && opt.rate <= 1))
      apgen::detail::fail<invalid_argument>("dyck process oracle: stop and rate must be probabilities");
  }

  [[nodiscard]] std::size_t vocab_size() const noexcept { return m_vocab; }
  [[nodiscard]] head_set heads() const noexcept { return heads::tokens_and_controls; }
  [[nodiscard]] const process_options& options() const noexcept { return m_opt; }

  void predict(const canvas& c, const step_context& ctx, denoiser_output& out) const {
    const counter_rng rng(ctx.seed, rng_stream::denoiser);
    const std::size_t k = m_opt.pairs;
    for (std::size_t r = 0; r < c.rows(); ++r) {
      if (!ctx.is_active(r)) continue;
      const auto row = c.row(r);
      const auto moves = process_moves(row, k, process_phase_of(row, k));
      std::size_t letters = 0;
      for (const token_id t : row) letters += t >= first_letter && t < hole_token(k);
      const std::uint64_t key = c.row_key(r);
      auto tok = out.tokens(r);
      auto ctl = out.controls(r);
      bool first_gap = true;
      for (std::size_t i = 0; i < row.size(); ++i) {
        const auto& m = moves[i];
        token_id y = m.token;
        if (m.draw) {
          const auto pos = static_cast<std::uint32_t>(i);
          y = hole_token(k);
          if (first_gap && rng.uniform(key, pos, ctx.step, 0) < m_opt.stop)
            y = end_token(k);
          else if (letters + 2 <= m_opt.max_length && rng.uniform(key, pos, ctx.step, 1) < m_opt.rate) {
            y = first_letter +
                static_cast<token_id>(rng.below(static_cast<std::uint32_t>(2 * k), key, pos, ctx.step, 2));
            letters += 2;
          }
          first_gap = false;
        }
        oracles::write_choice(tok, i, y < 0 ? row[i] : y);
        oracles::write_control(ctl, i, control_remask, m.remask);
        oracles::write_control(ctl, i, control_insert, m.insert);
        oracles::write_control(ctl, i, control_delete, m.erase);
      }
    }
  }

private:
  std::size_t m_vocab;
  process_options m_opt;
};

} // namespace apgen::tasks::dyck
