#pragma once
/// \file
/// One training example of any-process generation: a single AP-MDM transition (state x_k, per-position labels,
/// state x_{k+1}). The labels are those of Algorithm 1 of arXiv 2510.06190 plus an explicit unmask bit (so masked
/// diffusion records, which leave some MASKs for later, fit the same type):
///   - y[i]:      the token target: what a MASK at i becomes when it is unmasked; -1 means "no target";
///   - remask[i]: the position becomes MASK (on a MASK: it stays MASK, the AP-MDM way of keeping it masked);
///   - insert[i]: a new MASK goes right after the position;
///   - del[i]:    a MASK at i is dropped (its insert ignored); a no-op on a decoded token;
///   - unmask[i]: a MASK at i that is neither remasked nor deleted becomes y[i].
/// `next` must equal the transition applied to x under these labels; `check_consistent` replays it with the
/// library's own `apply_transition` and rejects a record that disagrees, naming it and the first differing position.
///
/// unmask is stored, not derived: an empty `unmask` means the AP-MDM rule (every MASK not remasked or deleted is
/// unmasked), which is also what the on-disk format assumes when a line has no "unmask" key. Records built by
/// teachers carry it explicitly.
///
/// Usage:
///   apgen::train::transition_record r{.x = {1, 0, 0}, .y = {-1, 3, -1}, .remask = {0, 0, 0}, .insert = {0, 0, 0},
///                                     .del = {0, 0, 1}, .unmask = {0, 1, 0}, .next = {1, 3}};
///   apgen::train::check_consistent(r, /*mask*/ 0, /*vocab_size*/ 4, "example");   // throws parse_error if not

#include <apgen/backends/tags.hpp>
#include <apgen/config.hpp>
#include <apgen/core/canvas.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/ops.hpp>
#include <apgen/core/row_encoding.hpp>
#include <apgen/core/step_plan.hpp>
#include <apgen/core/transition.hpp>
#include <apgen/core/vocabulary.hpp>
#include <apgen/edits/edit_set.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace apgen::train {

/// One transition x_k -> x_{k+1} with its labels. Every label vector has x.size() entries (unmask may be empty:
/// the AP-MDM rule); bits are 0 or 1.
struct transition_record {
  std::vector<token_id> x{};          ///< the state before the step
  std::vector<token_id> y{};          ///< token targets; -1 where there is none
  std::vector<std::uint8_t> remask{}; ///< remask labels
  std::vector<std::uint8_t> insert{}; ///< insert labels
  std::vector<std::uint8_t> del{};    ///< delete labels ("delete" on disk)
  std::vector<std::uint8_t> unmask{}; ///< unmask labels; empty = every MASK not remasked or deleted
  std::vector<token_id> next{};       ///< the state after the step
  /// The task's encoding of x (features and allowed classes, core/row_encoding.hpp), as the step read it; empty
  /// for a task without an encoder. A training example reads its features and allowed sets from here.
  row_encoding encoding{};
  std::optional<std::int64_t> trajectory{}; ///< which trajectory the record belongs to (metadata only)
  std::optional<std::int64_t> step{};       ///< the step of that trajectory (metadata only)

  friend bool operator==(const transition_record&, const transition_record&) = default;
};

/// The AP-MDM unmask bits of x under remask/delete labels: MASK and neither remasked nor deleted.
[[nodiscard]] inline std::vector<std::uint8_t> ap_mdm_unmask(std::span<const token_id> x,
                                                             std::span<const std::uint8_t> remask,
                                                             std::span<const std::uint8_t> del, token_id mask) {
  if (remask.size() != x.size() || del.size() != x.size())
    apgen::detail::fail<shape_mismatch>("ap_mdm_unmask: ", x.size(), " tokens but ", remask.size(), " remask and ",
                                        del.size(), " delete labels");
  std::vector<std::uint8_t> u(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) u[i] = x[i] == mask && !remask[i] && !del[i] ? 1 : 0;
  return u;
}

/// True when position i of `r` is unmasked by the transition (a MASK, not deleted, not remasked, unmask set),
/// i.e. where y[i] is read. Assumes the label vectors have the right sizes.
[[nodiscard]] inline bool unmasks_at(const transition_record& r, std::size_t i, token_id mask) noexcept {
  return r.x[i] == mask && !r.del[i] && !r.remask[i] && (r.unmask.empty() || r.unmask[i]);
}

namespace detail {

inline constexpr std::string_view record_field_names[] = {"y", "remask", "insert", "delete", "unmask"};

/// The label sizes of `r` against x.size(): the name of the first wrong field, or nullptr.
inline const char* record_size_error(const transition_record& r, std::size_t& got) noexcept {
  const std::size_t n = r.x.size();
  if ((got = r.y.size()) != n) return "y";
  if ((got = r.remask.size()) != n) return "remask";
  if ((got = r.insert.size()) != n) return "insert";
  if ((got = r.del.size()) != n) return "delete";
  if ((got = r.unmask.size()) != n && !r.unmask.empty()) return "unmask";
  return nullptr;
}

/// A vocabulary of `size` ids with MASK at 0, kept per thread and grown on demand (the replay needs one whose
/// size covers the record's compacted ids; building one per record would dominate reading a dataset).
inline const vocabulary& replay_vocabulary(std::size_t size) {
  thread_local std::optional<vocabulary> v;
  if (!v || v->size() < size) {
    std::size_t n = 16;
    while (n < size) n *= 2;
    std::vector<std::string> s;
    s.reserve(n - 1);
    for (std::size_t i = 1; i < n; ++i) {
      std::string name = "t"; // not "t" + to_string(i): g++ 12 -O3 reports a false -Wrestrict in that operator+
      name += std::to_string(i);
      s.push_back(std::move(name));
    }
    v.emplace(s);
  }
  return *v;
}

} // namespace detail

/// The next state of `r`: its labels applied to x by `apply_transition` (serial backend, every edit allowed, no
/// locked positions) on a one-row canvas. Token ids are compacted first (MASK to 0, the other ids that occur to
/// 1..k in order), which the transition cannot tell apart from the originals, so any id range and any MASK id work.
/// Throws shape_mismatch when a label vector's size differs from x's, invalid_token for a negative id in x or
/// an unmasked position whose target is negative.
[[nodiscard]] inline std::vector<token_id> apply(const transition_record& r, token_id mask) {
  const std::size_t n = r.x.size();
  std::size_t got = 0;
  if (const char* field = detail::record_size_error(r, got))
    apgen::detail::fail<shape_mismatch>("transition record: \"", field, "\" has ", got, " entries, \"x\" has ", n);
  if (mask < 0) apgen::detail::fail<invalid_token>("transition record: MASK id ", mask, " is negative");
  std::vector<token_id> alphabet;
  alphabet.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    if (r.x[i] < 0) apgen::detail::fail<invalid_token>("transition record: x[", i, "] = ", r.x[i], " is negative");
    if (r.x[i] != mask) alphabet.push_back(r.x[i]);
    if (unmasks_at(r, i, mask)) {
      if (r.y[i] < 0)
        apgen::detail::fail<invalid_token>("transition record: position ", i, " is unmasked but its target y[", i,
                                           "] is ", r.y[i]);
      if (r.y[i] != mask) alphabet.push_back(r.y[i]);
    }
  }
  std::sort(alphabet.begin(), alphabet.end());
  alphabet.erase(std::unique(alphabet.begin(), alphabet.end()), alphabet.end());
  const auto compact = [&](token_id t) -> token_id {
    if (t == mask) return 0;
    return 1 + static_cast<token_id>(std::lower_bound(alphabet.begin(), alphabet.end(), t) - alphabet.begin());
  };

  canvas c(detail::replay_vocabulary(alphabet.size() + 1), 1, std::max<std::size_t>(1, 2 * n));
  std::vector<token_id> row(n);
  for (std::size_t i = 0; i < n; ++i) row[i] = compact(r.x[i]);
  c.assign(0, row);
  step_plan plan;
  plan.reshape(c, false);
  auto tokens = plan.tokens_of(0);
  auto ops = plan.ops_of(0);
  for (std::size_t i = 0; i < n; ++i) {
    tokens[i] = unmasks_at(r, i, mask) ? compact(r.y[i]) : 0;
    std::uint8_t b = op_none;
    if (r.unmask.empty() || r.unmask[i]) b |= op_unmask;
    if (r.remask[i]) b |= op_remask;
    if (r.insert[i]) b |= op_insert;
    if (r.del[i]) b |= op_erase;
    ops[i] = b;
  }
  row_delta delta;
  apply_transition<backends::serial>(c, plan, std::span<row_delta>(&delta, 1),
                                     transition_options{edits::any_process::mask});
  std::vector<token_id> out;
  out.reserve(c.length(0));
  for (token_id t : c.row(0)) out.push_back(t == 0 ? mask : alphabet[static_cast<std::size_t>(t - 1)]);
  return out;
}

/// Checks the shape of `r` without replaying it, throwing apgen::parse_error that starts with `where`: every label
/// vector has x.size() entries (unmask may be empty), every bit is 0 or 1, ids of x and next are in
/// [0, vocab_size), targets are -1 or in [0, vocab_size), and every unmasked position has a target that is not
/// MASK. `vocab_size` 0 means unknown: ids must then only be non-negative. The MASK id must be in range too.
inline void validate(const transition_record& r, token_id mask, std::size_t vocab_size, std::string_view where) {
  using apgen::detail::fail;
  const std::size_t n = r.x.size();
  const auto V = static_cast<long long>(vocab_size);
  const auto in_range = [&](token_id t) { return t >= 0 && (vocab_size == 0 || static_cast<long long>(t) < V); };
  const auto range_text = [&]() {
    return vocab_size == 0 ? std::string(" is negative") : apgen::detail::message(" is out of range [0, ", V, ")");
  };
  if (!in_range(mask)) fail<parse_error>(where, ": MASK id ", mask, range_text());
  std::size_t got = 0;
  if (const char* field = detail::record_size_error(r, got))
    fail<parse_error>(where, ": \"", field, "\" has ", got, " entries, \"x\" has ", n);
  const auto bits = [&](const std::vector<std::uint8_t>& b, std::string_view name) {
    for (std::size_t i = 0; i < b.size(); ++i)
      if (b[i] > 1)
        fail<parse_error>(where, ": \"", name, "\"[", i, "] is ", static_cast<int>(b[i]), ", expected 0 or 1");
  };
  for (std::size_t k = 0; k < r.encoding.features.size(); ++k)
    if (r.encoding.features[k].size() != n)
      fail<parse_error>(where, ": feature ", k, " has ", r.encoding.features[k].size(), " positions, \"x\" has ", n);
  if (!r.encoding.allowed.empty() && r.encoding.allowed.size() != n)
    fail<parse_error>(where, ": \"allowed\" has ", r.encoding.allowed.size(), " entries, \"x\" has ", n);
  bits(r.remask, "remask");
  bits(r.insert, "insert");
  bits(r.del, "delete");
  bits(r.unmask, "unmask");
  for (std::size_t i = 0; i < n; ++i)
    if (!in_range(r.x[i])) fail<parse_error>(where, ": token \"x\"[", i, "] = ", r.x[i], range_text());
  for (std::size_t i = 0; i < r.next.size(); ++i)
    if (!in_range(r.next[i])) fail<parse_error>(where, ": token \"next\"[", i, "] = ", r.next[i], range_text());
  for (std::size_t i = 0; i < n; ++i) {
    if (r.y[i] != -1 && !in_range(r.y[i]))
      fail<parse_error>(where, ": target \"y\"[", i, "] = ", r.y[i],
                        vocab_size == 0 ? std::string(" is negative and not -1") : range_text() + " and not -1");
    if (unmasks_at(r, i, mask)) {
      if (r.y[i] == -1)
        fail<parse_error>(where, ": position ", i, " is unmasked (a MASK with neither remask nor delete) but \"y\"[", i,
                          "] is -1 (no target)");
      if (r.y[i] == mask)
        fail<parse_error>(where, ": position ", i, " is unmasked but its target \"y\"[", i, "] is the MASK id");
    }
  }
}

/// Validates `r` (see validate) and checks that `next` equals apply(r, mask); throws apgen::parse_error starting
/// with `where` (e.g. "trajectories.jsonl line 17") that names the first differing position otherwise.
inline void check_consistent(const transition_record& r, token_id mask, std::size_t vocab_size,
                             std::string_view where) {
  validate(r, mask, vocab_size, where);
  const std::vector<token_id> expect = apply(r, mask);
  if (expect == r.next) return;
  std::size_t i = 0;
  while (i < expect.size() && i < r.next.size() && expect[i] == r.next[i]) ++i;
  const auto at = [](const std::vector<token_id>& v, std::size_t k) {
    return k < v.size() ? std::to_string(v[k]) : std::string("nothing (past the end)");
  };
  apgen::detail::fail<parse_error>(
      where, ": \"next\" disagrees with the transition of \"x\" under the record's labels at position ", i,
      ": \"next\" has ", at(r.next, i), ", the transition gives ", at(expect, i), " (\"next\" has ", r.next.size(),
      " tokens, the transition gives ", expect.size(), ")");
}

/// The effective labels of `r`: labels that do nothing are cleared, so equal transitions get equal labels, which
/// is what a model should be trained on. Per position i:
///   - a deleted MASK keeps only delete (remask, insert and unmask do nothing there) and target -1;
///   - delete on a decoded token is cleared (a no-op);
///   - remask and insert are kept as they are (remask on a MASK is what keeps it masked under AP-MDM);
///   - unmask is set exactly where the transition unmasks (so it becomes explicit), and y is kept there only
///     (-1 elsewhere).
/// The result has the same next state: apply(effective_labels(r, m), m) == apply(r, m). Throws like apply.
[[nodiscard]] inline transition_record effective_labels(const transition_record& r, token_id mask) {
  std::size_t got = 0;
  if (const char* field = detail::record_size_error(r, got))
    apgen::detail::fail<shape_mismatch>("transition record: \"", field, "\" has ", got, " entries, \"x\" has ",
                                        r.x.size());
  transition_record e = r;
  const std::size_t n = r.x.size();
  e.unmask.assign(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const bool is_mask = r.x[i] == mask;
    const bool unmasked = unmasks_at(r, i, mask);
    e.del[i] = is_mask && r.del[i] ? 1 : 0;
    e.remask[i] = !e.del[i] && r.remask[i] ? 1 : 0;
    e.insert[i] = !e.del[i] && r.insert[i] ? 1 : 0;
    e.unmask[i] = unmasked ? 1 : 0;
    e.y[i] = unmasked ? r.y[i] : -1;
  }
  return e;
}

} // namespace apgen::train
