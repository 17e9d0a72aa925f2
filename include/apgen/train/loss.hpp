#pragma once
/// \file
/// The supervised process objective of one row (the paper's AP-MDM loss, and the MDM and ARM losses as its special
/// cases), read from the logits a training forward left in its tape, with its gradients with respect to those
/// logits written back for the backward (nn/backward.hpp):
///   token:   mean over positions with a target y_i >= 0 of -log softmax(z_i)[y_i], the softmax over the ids the
///            position may take: never MASK, and only its allowed set where the task's encoding restricts it (the
///            token pass chooses within the same set, so training and generation normalise alike)
///   control: for each head k in (remask, insert, delete), mean over positions of w_i BCE(sigmoid(c_ik), label_ik),
///            w_i the position's control weight (1 unless the targets give weights: a task may weigh the few
///            positions where a step decides something above the many whose bits are trivially right)
///   total = token_weight * token + control_weight * (remask + insert + delete)

#include <apgen/config.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/row_encoding.hpp>
#include <apgen/nn/config.hpp>
#include <apgen/nn/ops/softmax.hpp>
#include <apgen/nn/training_tape.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>

namespace apgen::train {

/// Supervision of one row: token targets (-1 = none) and control labels (0/1), one per position. Empty control
/// labels mean the controls are not supervised (MDM, ARM): their loss and gradient are zero. `allowed` gives each
/// position's allowed class (core/row_encoding.hpp; empty: every id but MASK), `schema` the sets it names.
struct row_targets {
  std::span<const token_id> tokens{};
  std::span<const std::uint8_t> remask{}, insert{}, erase{}; ///< empty when the model has no control heads
  std::span<const std::uint16_t> allowed{};
  const feature_schema* schema = nullptr;
  std::span<const float> control_weights{}; ///< per position, the weight of its control losses; empty: all 1
};

struct loss_weights {
  double token = 1.0;
  double control = 1.0;
};

/// Loss of one row, by part.
struct row_loss {
  double token = 0, remask = 0, insert = 0, erase = 0, total = 0;
  std::size_t token_positions = 0;
};

namespace detail {

/// The loss of one row from its logits and control logits (see the file comment), and its gradients with respect
/// to them (written, every element). Throws shape_mismatch for targets, labels or classes of the wrong length, and
/// invalid_token for a target the head cannot produce there or a class the schema does not name.
template <class Scalar, class Z, class C, class DZ, class DC>
row_loss loss_and_grad(const nn::transformer_config& c, const Z& logits, const C& controls, const row_targets& y,
                       const loss_weights& lw, DZ&& d_logits, DC&& d_controls) {
  const auto L = logits.rows();
  const auto V = static_cast<std::size_t>(logits.cols());
  if (y.tokens.size() != static_cast<std::size_t>(L))
    apgen::detail::fail<shape_mismatch>("loss: ", y.tokens.size(), " token targets for ", L, " positions");
  if (!y.allowed.empty() && y.allowed.size() != static_cast<std::size_t>(L))
    apgen::detail::fail<shape_mismatch>("loss: ", y.allowed.size(), " allowed classes for ", L, " positions");
  row_loss out;
  d_logits.setZero();
  for (Eigen::Index i = 0; i < L; ++i)
    if (y.tokens[static_cast<std::size_t>(i)] >= 0) ++out.token_positions;
  for (Eigen::Index i = 0; i < L; ++i) {
    const auto at = static_cast<std::size_t>(i);
    const token_id target = y.tokens[at];
    if (target < 0) continue;
    if (static_cast<std::size_t>(target) >= c.vocab_size || target == c.mask_id)
      apgen::detail::fail<invalid_token>("loss: target ", target, " at position ", i,
                                         " is not a token the head can predict");
    const std::uint16_t cls = y.allowed.empty() ? 0 : y.allowed[at];
    if (cls != 0 && (y.schema == nullptr || cls > y.schema->allowed_sets.size()))
      apgen::detail::fail<invalid_token>("loss: allowed class ", cls, " of position ", i,
                                         " names no set of the schema");
    const auto candidate = [&](std::size_t v) {
      const auto id = static_cast<token_id>(v);
      return id != c.mask_id && (cls == 0 || y.schema->allows(cls, id));
    };
    if (!candidate(static_cast<std::size_t>(target)))
      apgen::detail::fail<invalid_token>("loss: target ", target, " at position ", i, " is outside its allowed set ",
                                         cls - 1);
    const Scalar* z = logits.row(i).data();
    const Scalar log_z = nn::token_log_normaliser(z, V, candidate);
    out.token += static_cast<double>(log_z - z[target]);
    const Scalar g = static_cast<Scalar>(lw.token / static_cast<double>(out.token_positions));
    for (std::size_t v = 0; v < V; ++v)
      if (candidate(v)) d_logits(i, static_cast<Eigen::Index>(v)) = g * std::exp(z[v] - log_z);
    d_logits(i, target) -= g;
  }
  if (out.token_positions) out.token /= static_cast<double>(out.token_positions);
  d_controls.setZero();
  const bool supervised_controls = !(y.remask.empty() && y.insert.empty() && y.erase.empty());
  if (c.control_heads && supervised_controls) {
    if (!y.control_weights.empty() && y.control_weights.size() != static_cast<std::size_t>(L))
      apgen::detail::fail<shape_mismatch>("loss: ", y.control_weights.size(), " control weights for ", L, " positions");
    for (const float cw : y.control_weights)
      if (!(cw >= 0) || !std::isfinite(cw))
        apgen::detail::fail<invalid_argument>("loss: a control weight is ", cw, "; weights are finite and >= 0");
    const std::span<const std::uint8_t> labels[3] = {y.remask, y.insert, y.erase};
    double* parts[3] = {&out.remask, &out.insert, &out.erase};
    for (std::size_t k = 0; k < 3; ++k) {
      if (labels[k].size() != static_cast<std::size_t>(L))
        apgen::detail::fail<shape_mismatch>("loss: ", labels[k].size(), " labels for control ", k, ", expected ", L);
      for (Eigen::Index i = 0; i < L; ++i) {
        const Scalar x = controls(i, static_cast<Eigen::Index>(k));
        const Scalar label = labels[k][static_cast<std::size_t>(i)] ? Scalar(1) : Scalar(0);
        const double weight =
            y.control_weights.empty() ? 1.0 : static_cast<double>(y.control_weights[static_cast<std::size_t>(i)]);
        // BCE with logits, stably: max(x, 0) - x * label + log(1 + exp(-|x|)).
        *parts[k] += weight *
                     static_cast<double>(std::max(x, Scalar(0)) - x * label + std::log1p(std::exp(-std::abs(x)))) /
                     static_cast<double>(L);
        d_controls(i, static_cast<Eigen::Index>(k)) =
            static_cast<Scalar>(weight * lw.control / static_cast<double>(L)) *
            (Scalar(1) / (Scalar(1) + std::exp(-x)) - label);
      }
    }
  }
  out.total = lw.token * out.token + lw.control * (out.remask + out.insert + out.erase);
  return out;
}

} // namespace detail

/// The loss of row r of a batch's forward pass (see the file comment); its gradients with respect to the row's
/// logits go into the tape (d_logits, d_controls), where nn::backward_batch reads them.
template <class Scalar>
row_loss row_loss_and_grad(const nn::transformer_config& c, nn::batch_tape<Scalar>& t, std::size_t r,
                           const row_targets& y, const loss_weights& lw) {
  const Eigen::Index o = t.row_begin(r), L = t.row_length(r);
  return detail::loss_and_grad<Scalar>(c, t.logits.middleRows(o, L), t.controls.middleRows(o, L), y, lw,
                                       t.d_logits.middleRows(o, L), t.d_controls.middleRows(o, L));
}

/// The loss of a one-row forward pass (see the file comment) and its gradients with respect to the logits.
template <class Scalar>
row_loss row_loss_and_grad(const nn::transformer_config& c, const nn::row_tape<Scalar>& t, const row_targets& y,
                           const loss_weights& lw, nn::basic_matrix<Scalar>& d_logits,
                           nn::basic_matrix<Scalar>& d_controls) {
  d_logits.resize(t.logits.rows(), t.logits.cols());
  d_controls.resize(t.controls.rows(), t.controls.cols());
  return detail::loss_and_grad<Scalar>(c, t.logits, t.controls, y, lw, d_logits, d_controls);
}

} // namespace apgen::train
