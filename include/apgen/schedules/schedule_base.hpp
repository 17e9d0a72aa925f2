#pragma once
/// \file
/// What every token schedule declares the same way, written once: the sampler it draws tokens with, the confidence
/// measure it ranks positions by, the heads it reads, and the edit set and stop rule a generator takes when none is
/// given. A schedule derives from `schedule_base<...>` and adds only its own decisions (mark, select, reset).

#include <apgen/core/denoiser_output.hpp>
#include <apgen/sampling/confidence.hpp>

#include <utility>

namespace apgen::schedules {

template <class Sampler, class DefaultEdits, class DefaultStop, head_set Heads = heads::tokens_only>
class schedule_base {
public:
  using sampler_type = Sampler;
  using default_edits = DefaultEdits;
  using default_stop = DefaultStop;

  [[nodiscard]] const Sampler& sampler() const noexcept { return m_sampler; }
  [[nodiscard]] sampling::confidence_measure measure() const noexcept { return m_measure; }
  [[nodiscard]] head_set heads() const noexcept { return Heads; }

protected:
  explicit schedule_base(Sampler s, sampling::confidence_measure measure = sampling::confidence_measure::probability)
      : m_sampler(std::move(s)), m_measure(measure) {}

  Sampler m_sampler;
  sampling::confidence_measure m_measure;
};

} // namespace apgen::schedules
