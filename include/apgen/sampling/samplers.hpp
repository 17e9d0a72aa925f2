#pragma once
/// \file
/// Token choice policies: greedy, temperature, top-k and top-p. Sampling uses the Gumbel-max trick with noise in
/// double precision, drawn from the counter RNG keyed by (seed, row, position, step, token), so a choice is the
/// same in every batch and thread. Tokens that cannot win under any noise value the RNG can produce are skipped
/// exactly (the noise is bounded because u is a 53-bit double), so peaked distributions cost one pass.

#include <apgen/config.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/rng.hpp>
#include <apgen/sampling/distribution.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <utility>
#include <vector>

namespace apgen::sampling {

/// Identifies one random token draw.
struct draw_key {
  counter_rng rng{0, rng_stream::token_noise};
  std::uint64_t row = 0;
  std::uint32_t position = 0;
  std::uint32_t step = 0;

  [[nodiscard]] double gumbel(std::size_t token) const noexcept {
    return rng.gumbel(row, position, step, static_cast<std::uint32_t>(token));
  }
};

namespace detail {
/// Width of the Gumbel range the double sampler can produce (36.74 - (-3.61), rounded up): a token whose scaled
/// logit is further than this below the best one can never win.
inline constexpr double gumbel_span = 40.5;

/// Scratch for candidate lists; one per thread, grown once, so steady-state sampling does not allocate.
inline std::vector<std::pair<float, token_id>>& candidate_scratch() {
  thread_local std::vector<std::pair<float, token_id>> scratch;
  return scratch;
}

/// Allowed tokens whose scaled logit is within gumbel_span of the best, largest first (ties: lower id first).
inline std::vector<std::pair<float, token_id>>& plausible_tokens(std::span<const float> z, const token_filter& f,
                                                                 const distribution_summary& s, double t) {
  auto& c = candidate_scratch();
  c.clear();
  const double floor_value = static_cast<double>(s.top1) - gumbel_span * t;
  f.for_each_allowed_range(z.size(), [&](std::size_t b, std::size_t e) {
    for (std::size_t j = b; j < e; ++j)
      if (static_cast<double>(z[j]) >= floor_value) c.emplace_back(z[j], static_cast<token_id>(j));
  });
  return c;
}

inline bool by_logit_then_id(const std::pair<float, token_id>& a, const std::pair<float, token_id>& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

inline double checked_temperature(double t, const char* who) {
  if (!(t > 0) || !std::isfinite(t))
    apgen::detail::fail<invalid_argument>(who, ": temperature must be positive and finite, got ", t);
  return t;
}
} // namespace detail

/// The most likely allowed token (the first one on a tie).
struct greedy {
  static constexpr bool is_greedy = true;
  [[nodiscard]] token_id choose(std::span<const float>, const token_filter&, const distribution_summary& s,
                                const draw_key&) const noexcept {
    return s.argmax;
  }
};

/// A draw from softmax(z / t) over all allowed tokens.
class temperature {
public:
  static constexpr bool is_greedy = false;
  explicit temperature(double t = 1.0) : m_t(detail::checked_temperature(t, "temperature sampler")) {}
  [[nodiscard]] token_id choose(std::span<const float> z, const token_filter& f, const distribution_summary& s,
                                const draw_key& key) const {
    const double floor_value = static_cast<double>(s.top1) - detail::gumbel_span * m_t;
    double best = -std::numeric_limits<double>::infinity();
    token_id arg = s.argmax;
    f.for_each_allowed_range(z.size(), [&](std::size_t b, std::size_t e) {
      for (std::size_t j = b; j < e; ++j) {
        if (static_cast<double>(z[j]) < floor_value) continue; // cannot win: exact, see gumbel_span
        const double v = static_cast<double>(z[j]) / m_t + key.gumbel(j);
        if (v > best) {
          best = v;
          arg = static_cast<token_id>(j);
        }
      }
    });
    return arg;
  }
  [[nodiscard]] double value() const noexcept { return m_t; }

private:
  double m_t;
};

/// A draw from softmax(z / t) restricted to the k largest logits (ties broken towards lower ids).
class top_k {
public:
  static constexpr bool is_greedy = false;
  explicit top_k(std::size_t k, double t = 1.0) : m_k(k), m_t(detail::checked_temperature(t, "top-k sampler")) {
    if (k == 0) apgen::detail::fail<invalid_argument>("top-k sampler: k must be at least 1");
  }
  [[nodiscard]] token_id choose(std::span<const float> z, const token_filter& f, const distribution_summary& s,
                                const draw_key& key) const {
    if (m_k == 1) return s.argmax;
    auto& c = detail::plausible_tokens(z, f, s, m_t);
    const std::size_t k = std::min(m_k, c.size());
    std::partial_sort(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(k), c.end(), detail::by_logit_then_id);
    double best = -std::numeric_limits<double>::infinity();
    token_id arg = s.argmax;
    for (std::size_t i = 0; i < k; ++i) {
      const double v = static_cast<double>(c[i].first) / m_t + key.gumbel(static_cast<std::size_t>(c[i].second));
      if (v > best) {
        best = v;
        arg = c[i].second;
      }
    }
    return arg;
  }

private:
  std::size_t m_k;
  double m_t;
};

/// Nucleus sampling: a draw from softmax(z / t) restricted to the smallest set of most likely tokens whose
/// probability (at temperature t) reaches p.
class top_p {
public:
  static constexpr bool is_greedy = false;
  explicit top_p(double p, double t = 1.0) : m_p(p), m_t(detail::checked_temperature(t, "top-p sampler")) {
    if (!(p > 0 && p <= 1)) apgen::detail::fail<invalid_argument>("top-p sampler: p must be in (0, 1], got ", p);
  }
  [[nodiscard]] token_id choose(std::span<const float> z, const token_filter& f, const distribution_summary& s,
                                const draw_key& key) const {
    // Probabilities at temperature t, relative to the best token; tokens beyond the Gumbel span carry < e^-41 mass
    // each and are left out of the nucleus as they could not be drawn anyway.
    auto& c = detail::plausible_tokens(z, f, s, m_t);
    std::sort(c.begin(), c.end(), detail::by_logit_then_id);
    double total = 0;
    for (auto& [v, id] : c) total += std::exp((static_cast<double>(v) - s.top1) / m_t);
    double mass = 0;
    double best = -std::numeric_limits<double>::infinity();
    token_id arg = s.argmax;
    for (auto& [v, id] : c) {
      const double g = static_cast<double>(v) / m_t + key.gumbel(static_cast<std::size_t>(id));
      if (g > best) {
        best = g;
        arg = id;
      }
      mass += std::exp((static_cast<double>(v) - s.top1) / m_t) / total;
      if (mass >= m_p) break;
    }
    return arg;
  }

private:
  double m_p;
  double m_t;
};

} // namespace apgen::sampling
