#pragma once
/// \file
/// Training examples for the three objectives, as (input row, supervision, weight):
///   - AP-MDM process: one transition record (state x_k, token targets where MASKs are unmasked, control labels);
///   - MDM: a clean row with each position masked with probability t, t ~ U(0, 1] per example, targets the clean
///     tokens at the masked positions, optionally weighted by 1/t (the usual ELBO weighting);
///   - ARM: next-token prediction, input x_0 .. x_{L-2} and target x_{i+1} at position i (for a causal model).
/// Randomness comes from the counter RNG keyed by (seed, example index), so an epoch's examples do not depend on
/// the order they are built in or on the thread count.

#include <apgen/config.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/rng.hpp>
#include <apgen/core/row_encoding.hpp>
#include <apgen/train/loss.hpp>
#include <apgen/train/transition_record.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace apgen::train {

/// One training example: what the model reads and what it is supervised with. Control labels are empty for
/// objectives without control supervision (their control loss is then skipped).
struct example {
  std::vector<token_id> input;
  std::vector<std::vector<token_id>> features; ///< [feature][position], empty without feature embeddings
  /// Per position, the allowed class (0: any token; c: only schema->allowed_sets[c - 1]); empty: all class 0. The
  /// token loss normalises over the allowed set, as the token pass chooses within it.
  std::vector<std::uint16_t> allowed;
  std::shared_ptr<const feature_schema> schema; ///< the sets `allowed` names (needed only when it names any)
  std::vector<token_id> targets;                ///< per position, -1 where unsupervised
  std::vector<std::uint8_t> remask, insert, erase;
  double token_weight = 1.0;
  double control_weight = 1.0;
  /// Per position, a factor on its control losses (empty: 1 everywhere); see train/loss.hpp.
  std::vector<float> control_position_weights;

  [[nodiscard]] row_targets supervision() const {
    return {targets, remask, insert, erase, allowed, schema.get(), control_position_weights};
  }
};

/// An AP-MDM process example (the paper's supervised objective) from one transition record: the model reads x; its
/// token head is supervised where the transition unmasks, with the record's y; its control heads at every position
/// with the record's effective labels (train::effective_labels: a label that changes nothing is not taught).
/// The example's features and allowed classes are the record's encoding (what the step read in generation);
/// `schema` names the allowed sets and must be given when the record restricts any position. Throws like
/// check_consistent's size checks when the record's label vectors do not match x, and validate_encoding's when its
/// encoding does not fit x or the schema.
[[nodiscard]] inline example process_example(const transition_record& r, token_id mask, double token_weight = 1.0,
                                             double control_weight = 1.0,
                                             std::shared_ptr<const feature_schema> schema = {}) {
  const transition_record e = effective_labels(r, mask);
  const bool restricted =
      std::any_of(e.encoding.allowed.begin(), e.encoding.allowed.end(), [](std::uint16_t c) { return c != 0; });
  if (restricted && !schema)
    apgen::detail::fail<invalid_argument>(
        "process example: the record restricts positions to allowed sets; pass the feature schema");
  if (schema) validate_encoding(e.encoding, e.x.size(), *schema, "process example");
  example ex;
  ex.input = e.x;
  ex.features = e.encoding.features;
  ex.allowed = e.encoding.allowed;
  ex.schema = std::move(schema);
  ex.targets = e.y;
  ex.remask = e.remask;
  ex.insert = e.insert;
  ex.erase = e.del;
  ex.token_weight = token_weight;
  ex.control_weight = control_weight;
  return ex;
}

/// An MDM example: positions of `clean` not in `locked` are masked with probability t ~ U(0, 1]; at least one
/// position is masked when any is maskable.
[[nodiscard]] inline example mdm_example(std::span<const token_id> clean, token_id mask, std::uint64_t seed,
                                         std::uint64_t index, bool weight_by_inverse_t = false,
                                         std::span<const std::uint8_t> locked = {}) {
  if (!locked.empty() && locked.size() != clean.size())
    apgen::detail::fail<shape_mismatch>("mdm example: ", locked.size(), " lock flags for ", clean.size(), " tokens");
  const counter_rng rng(seed, rng_stream::user);
  const double t = rng.uniform(index, 0, 0, 1); // in (0, 1)
  example e;
  e.input.assign(clean.begin(), clean.end());
  e.targets.assign(clean.size(), -1);
  std::size_t masked = 0, first_maskable = clean.size();
  for (std::size_t i = 0; i < clean.size(); ++i) {
    if (!locked.empty() && locked[i]) continue;
    if (first_maskable == clean.size()) first_maskable = i;
    if (rng.uniform(index, static_cast<std::uint32_t>(i), 0, 2) < t) {
      e.input[i] = mask;
      e.targets[i] = clean[i];
      ++masked;
    }
  }
  if (masked == 0 && first_maskable < clean.size()) {
    e.input[first_maskable] = mask;
    e.targets[first_maskable] = clean[first_maskable];
  }
  e.token_weight = weight_by_inverse_t ? 1.0 / t : 1.0;
  e.control_weight = 0.0;
  return e;
}

/// An ARM example: the model reads clean[0 .. L-2] and predicts clean[i+1] at position i.
[[nodiscard]] inline example arm_example(std::span<const token_id> clean) {
  if (clean.size() < 2)
    apgen::detail::fail<invalid_argument>("arm example: a row needs at least two tokens, got ", clean.size());
  example e;
  e.input.assign(clean.begin(), clean.end() - 1);
  e.targets.assign(clean.begin() + 1, clean.end());
  e.control_weight = 0.0;
  return e;
}

} // namespace apgen::train
