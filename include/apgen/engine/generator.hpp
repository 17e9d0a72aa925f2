#pragma once
/// \file
/// `generator<Denoiser, Schedule, Edits, Backend, Stop>`: owns the loop of one generation and nothing else.
/// Each step: the schedule marks the positions it will read -> forward pass -> token pass (choose and score y_i
/// where marked) -> schedule selects the edits -> transition (filtered by the edit set) -> stop rules per row ->
/// trace. Every buffer is sized before the
/// first step and reused, so steps in steady state do not allocate.

#include <apgen/backends/tags.hpp>
#include <apgen/core/canvas.hpp>
#include <apgen/core/denoiser_output.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/row_encoding.hpp>
#include <apgen/core/step_context.hpp>
#include <apgen/core/step_plan.hpp>
#include <apgen/core/trace.hpp>
#include <apgen/core/transition.hpp>
#include <apgen/engine/concepts.hpp>
#include <apgen/sampling/choose_tokens.hpp>
#include <apgen/stopping/stop_rules.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <vector>

namespace apgen {

/// Settings of a generator that are not policies.
struct generator_options {
  std::uint64_t seed = 0; ///< keys every random draw (with row key, position, step)
  overflow_policy overflow = overflow_policy::throw_error;
  /// The step budget of one generation, whatever Stop says: rows still running after it end with
  /// stop_reason::step_limit. (It is the library's one step cap; stop rules say when a row is done.)
  std::uint32_t max_steps = 1u << 20;
  std::optional<token_id> pad = std::nullopt; ///< a PAD id the token choice must never produce
  /// The task's encoder (features and allowed-token sets, core/row_encoding.hpp): run once per active row and
  /// step; the denoiser reads the features and the token pass the allowed sets from step_context::encodings.
  /// Empty: no features, no per-position restriction.
  row_encoder encoder{};
};

/// How one row ended.
struct row_result {
  stop_reason reason = stop_reason::running;
  std::uint32_t steps = 0;
  std::size_t length = 0;
  row_delta totals; ///< all edits applied to the row
};

/// How a generation ended.
struct generation_result {
  std::uint32_t steps = 0; ///< steps run for the batch (the longest row)
  std::vector<row_result> rows;
};

/// What an observer passed to generate() sees after each step.
struct step_report {
  std::uint32_t step = 0;
  std::span<const row_delta> deltas;
  std::span<const std::uint8_t> active; ///< after this step's stop rules
  /// The step's decisions, packed by the row lengths *before* the transition: chosen tokens y_i, scores and the
  /// requested edit bits (before the edit set and locks filter them).
  const step_plan* plan = nullptr;
  /// Per plan position, the bits the transition acted on (the request filtered by the edit set and the lock; 0 in
  /// rows that were not running). Teachers take their labels from these.
  std::span<const std::uint8_t> applied;
  /// Per row, the encoding the step read (of the row before the transition); empty without an encoder.
  std::span<const row_encoding> encodings;
};

namespace detail {
template <class S>
constexpr std::uint8_t required_ops_of() {
  if constexpr (requires { S::required_ops; })
    return S::required_ops;
  else
    return 0;
}
} // namespace detail

/// The composed generator.
/// \tparam Denoiser a model (apgen::denoiser)
/// \tparam Schedule which positions act and how tokens are chosen (apgen::schedule)
/// \tparam Edits the allowed edit operations (edits::edit_set); defaults to the schedule's natural set
/// \tparam Backend serial, simd or omp (backends::default_backend by default)
/// \tparam Stop a stop rule (stopping::any_of<...>); defaults to the schedule's
template <denoiser Denoiser, schedule Schedule, edit_set_type Edits = typename Schedule::default_edits,
          backends::backend Backend = backends::default_backend, stop_rule Stop = typename Schedule::default_stop>
class generator {
  static_assert((detail::required_ops_of<Schedule>() & ~Edits::allowed) == 0,
                "apgen: this schedule needs an edit the generator's edit set does not allow (polish needs remask: use "
                "edits::mdm_remask or edits::any_process)");

public:
  using denoiser_type = Denoiser;
  using schedule_type = Schedule;
  using edits_type = Edits;
  using backend_type = Backend;
  using stop_type = Stop;

  explicit generator(Denoiser d, Schedule s = {}, generator_options opt = {}, Stop stop = {})
      : m_denoiser(std::move(d)), m_schedule(std::move(s)), m_opt(opt), m_stop(std::move(stop)) {
    backends::require_implemented<Backend>();
    if (!head_set(m_denoiser.heads()).covers(m_schedule.heads()))
      detail::fail<invalid_argument>("generator: the schedule reads control scores and the denoiser provides none; "
                                     "use a denoiser with control heads or an unmasking schedule");
  }

  /// Runs until every row has stopped. Rows are independent: a row's result does not depend on the others.
  generation_result generate(canvas& c) {
    no_trace off;
    return run(c, off, [](const canvas&, const step_report&) {});
  }
  /// Runs and records every applied edit into `trace`.
  template <trace_recorder Recorder>
  generation_result generate(canvas& c, Recorder& trace) {
    return run(c, trace, [](const canvas&, const step_report&) {});
  }
  /// Runs, calling `observer(canvas, step_report)` after each step (the demo prints the process with it).
  template <trace_recorder Recorder, class Observer>
  generation_result generate(canvas& c, Recorder& trace, Observer&& observer) {
    return run(c, trace, observer);
  }
  /// Runs with an observer and no trace.
  template <class Observer>
  requires(!trace_recorder<std::remove_cvref_t<Observer>> &&
           std::invocable<Observer&, const canvas&, const step_report&>) generation_result
      generate(canvas& c, Observer&& observer) {
    no_trace off;
    return run(c, off, observer);
  }

  [[nodiscard]] Denoiser& denoiser() noexcept { return m_denoiser; }
  [[nodiscard]] Schedule& schedule() noexcept { return m_schedule; }
  [[nodiscard]] const generator_options& options() const noexcept { return m_opt; }

private:
  template <class Recorder, class Observer>
  generation_result run(canvas& c, Recorder& trace, Observer&& observer) {
    if (m_denoiser.vocab_size() != c.vocab_size())
      detail::fail<shape_mismatch>("generator: the denoiser scores ", m_denoiser.vocab_size(),
                                   " tokens, the canvas vocabulary has ", c.vocab_size());
    const std::size_t B = c.rows();
    // The backend decides how many threads the step may use, the denoiser's included: a serial generator runs its
    // transformer on one thread.
    const int threads = Backend::max_threads();
    const detail::thread_limit_scope limit(threads);
    // The denoiser writes every head it has (a per-row function can then always write its control block); the
    // schedule reads what it needs.
    const head_set need = m_schedule.heads();
    const head_set written = head_set(m_denoiser.heads()) | need;
    const bool with_controls = need.controls && Recorder::enabled;
    m_plan.reserve_for(c, with_controls);
    m_applied.reserve(c.total_capacity()); // resized every step, never reallocated
    m_active.assign(B, 1);
    m_progress.assign(B, row_progress{});
    m_deltas.assign(B, row_delta{});
    generation_result result;
    result.rows.assign(B, row_result{});
    for (std::size_t r = 0; r < B; ++r) m_progress[r].initial_masks = static_cast<std::uint32_t>(c.count_masks(r));
    m_schedule.reset(c);
    if (m_opt.pad && (*m_opt.pad < 0 || static_cast<std::size_t>(*m_opt.pad) >= c.vocab_size()))
      detail::fail<invalid_token>("generator: generator_options::pad is ", *m_opt.pad, ", outside the vocabulary [0, ",
                                  c.vocab_size(), ")");
    const sampling::token_filter filter = sampling::default_filter(c, m_opt.pad);
    const transition_options topt_base{Edits::mask, m_opt.overflow, 0};
    const bool encoding = !m_opt.encoder.empty();
    const feature_schema* schema = encoding ? &m_opt.encoder.schema() : nullptr;
    if (encoding) {
      schema->validate(c.vocab_size(), c.mask());
      m_encodings.resize(B);
    } else {
      m_encodings.clear();
    }

    std::uint32_t step = 0;
    for (; step < m_opt.max_steps && any_active(); ++step) {
      if (encoding) encode_active_rows(c, step);
      step_context ctx{m_opt.seed, step, m_active, m_progress, {}, threads, m_encodings, schema};
      // Marking first tells the denoiser which positions' token logits will be read (ctx.want).
      m_plan.reshape(c, with_controls);
      m_schedule.mark(c, ctx, m_plan);
      ctx.want = m_plan.want;
      m_out.reshape(c, written);
      m_denoiser.predict(c, ctx, m_out);
      if (need.tokens)
        sampling::choose_tokens<Backend>(c, m_out, m_schedule.sampler(), m_schedule.measure(), filter, ctx, m_plan);
      m_schedule.select(c, m_out, ctx, m_plan);
      transition_options topt = topt_base;
      topt.step = step;
      m_applied.resize(m_plan.ops.size());
      apply_transition<Backend>(c, m_plan, std::span<row_delta>(m_deltas), topt, m_active,
                                Recorder::enabled ? &trace : nullptr, std::span<std::uint8_t>(m_applied));
      for (std::size_t r = 0; r < B; ++r) {
        if (!m_active[r]) continue;
        auto& row = result.rows[r];
        ++m_progress[r].steps;
        row.steps = m_progress[r].steps;
        row.totals += m_deltas[r];
        const stop_reason why =
            m_deltas[r].overflowed ? stop_reason::capacity : m_stop.check(c, row_status{r, row.steps, m_deltas[r]});
        if (why != stop_reason::running) {
          row.reason = why;
          m_active[r] = 0;
        }
      }
      observer(c, step_report{step, m_deltas, m_active, &m_plan, m_applied, m_encodings});
    }
    for (std::size_t r = 0; r < B; ++r) {
      if (m_active[r]) result.rows[r].reason = stop_reason::step_limit;
      result.rows[r].length = c.length(r);
    }
    result.steps = step;
    return result;
  }

  /// Encodes every running row as it is now (a finished row keeps its last encoding, which nothing reads). The
  /// encoder's errors name the row and step.
  void encode_active_rows(const canvas& c, std::uint32_t step) {
    for (std::size_t r = 0; r < c.rows(); ++r) {
      if (!m_active[r]) continue;
      try {
        m_opt.encoder.encode(c.row(r), m_encodings[r]);
      } catch (const shape_mismatch& e) {
        detail::fail<shape_mismatch>("generator: row ", r, ", step ", step, ": ", e.what());
      } catch (const invalid_token& e) {
        detail::fail<invalid_token>("generator: row ", r, ", step ", step, ": ", e.what());
      }
    }
  }

  [[nodiscard]] bool any_active() const noexcept {
    for (auto a : m_active)
      if (a) return true;
    return false;
  }

  Denoiser m_denoiser;
  Schedule m_schedule;
  generator_options m_opt;
  Stop m_stop;
  denoiser_output m_out;
  step_plan m_plan;
  std::vector<std::uint8_t> m_active;
  std::vector<row_progress> m_progress;
  std::vector<row_delta> m_deltas;
  std::vector<std::uint8_t> m_applied;
  std::vector<row_encoding> m_encodings;
};

/// Builds a generator with the schedule's default edits and stop rule on the default backend:
/// `auto gen = apgen::make_generator(model, apgen::schedules::any_process<>{});`
template <class Edits = void, backends::backend Backend = backends::default_backend, denoiser D, schedule S>
[[nodiscard]] auto make_generator(D d, S s, generator_options opt = {}) {
  using E = std::conditional_t<std::is_void_v<Edits>, typename S::default_edits, Edits>;
  return generator<D, S, E, Backend>(std::move(d), std::move(s), opt);
}

/// The same with a stop rule of your own in place of the schedule's:
/// `auto gen = apgen::make_generator(model, schedule, {.max_steps = 64}, apgen::stopping::stop_when(
/// apgen::stopping::no_mask_left{}, apgen::stopping::max_length{100}));`
template <class Edits = void, backends::backend Backend = backends::default_backend, denoiser D, schedule S,
          stop_rule Stop>
[[nodiscard]] auto make_generator(D d, S s, generator_options opt, Stop stop) {
  using E = std::conditional_t<std::is_void_v<Edits>, typename S::default_edits, Edits>;
  return generator<D, S, E, Backend, Stop>(std::move(d), std::move(s), opt, std::move(stop));
}

} // namespace apgen
