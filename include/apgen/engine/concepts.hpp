#pragma once
/// \file
/// One concept per policy. They check the syntax a generator relies on; the meaning each must honour is in the
/// comment above it.

#include <apgen/core/canvas.hpp>
#include <apgen/core/denoiser_output.hpp>
#include <apgen/core/step_context.hpp>
#include <apgen/core/step_plan.hpp>
#include <apgen/core/trace.hpp>
#include <apgen/edits/edit_set.hpp>
#include <apgen/sampling/confidence.hpp>
#include <apgen/sampling/distribution.hpp>
#include <apgen/sampling/samplers.hpp>
#include <apgen/stopping/stop_rules.hpp>

#include <concepts>
#include <cstddef>
#include <span>

namespace apgen {

// clang-format off

/// A model: sequence in, per-position scores out. `predict` writes, for every active row r, token logits
/// (length(r) x V) and, when `heads()` includes controls and the output requests them, control logits
/// (length(r) x 3: remask, insert, delete). It must not read other rows to compute row r (rows are independent),
/// and it may skip rows that `ctx.is_active(r)` says are finished.
///
///     struct my_model {
///       std::size_t vocab_size() const { return 12; }
///       apgen::head_set heads() const { return apgen::heads::tokens_only; }
///       void predict(const apgen::canvas&, const apgen::step_context&, apgen::denoiser_output&);
///     };
///     static_assert(apgen::denoiser<my_model>);
template <class D>
concept denoiser = requires(D& d, const canvas& c, const step_context& ctx, denoiser_output& out) {
  { d.vocab_size() } -> std::convertible_to<std::size_t>;
  { d.heads() } -> std::convertible_to<head_set>;
  d.predict(c, ctx, out);
};

/// A token choice: given a position's logits, the tokens to avoid and their summary, return an allowed token.
/// Deterministic in its arguments (randomness comes only from the draw key).
template <class S>
concept token_sampler = requires(const S& s, std::span<const float> z, const sampling::token_filter& f,
                                 const sampling::distribution_summary& sum, const sampling::draw_key& key) {
  { s.choose(z, f, sum, key) } -> std::convertible_to<token_id>;
  { S::is_greedy } -> std::convertible_to<bool>;
};

/// A decoding schedule. Per step: `mark` says which positions the token pass must score (step_plan::want);
/// after the pass, `select` sets the edit bits (step_plan::ops) from the scores. `heads()` names the denoiser
/// heads it reads; `reset` is called once per generation before the first step.
///
///     apgen::schedules::autoregressive<> s;      // leftmost MASK, greedy
///     static_assert(apgen::schedule<decltype(s)>);
template <class S>
concept schedule = requires(S& s, const canvas& c, const denoiser_output& out, const step_context& ctx, step_plan& plan) {
  typename S::sampler_type;
  typename S::default_edits;
  typename S::default_stop;
  requires token_sampler<typename S::sampler_type>;
  { s.sampler() } -> std::convertible_to<const typename S::sampler_type&>;
  { s.measure() } -> std::convertible_to<sampling::confidence_measure>;
  { s.heads() } -> std::convertible_to<head_set>;
  s.reset(c);
  s.mark(c, ctx, plan);
  s.select(c, out, ctx, plan);
};

/// A stop rule: a reason to stop the row, or stop_reason::running.
template <class R>
concept stop_rule = requires(const R& r, const canvas& c, const row_status& s) {
  { r.check(c, s) } -> std::same_as<stop_reason>;
};

/// An edit set: a compile-time mask of allowed operations.
template <class E>
concept edit_set_type = requires {
  { E::mask } -> std::convertible_to<edits::edit_mask>;
  { E::allowed } -> std::convertible_to<std::uint8_t>;
};

/// A trace recorder (no_trace or op_trace, or any type with the same shape).
template <class R>
concept trace_recorder = requires(R& r, const trace_record& t) {
  { R::enabled } -> std::convertible_to<bool>;
  r.record(t);
};

// clang-format on

} // namespace apgen
