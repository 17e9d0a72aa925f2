#pragma once
/// \file
/// The gradient of a batch: the mean of the examples' losses, differentiated. Threads take contiguous chunks of
/// the batch by index (chunk c of T), accumulate into their own gradient buffers, and the buffers are summed in
/// chunk order, so the same batch and thread count give the same bits every time.

#include <apgen/config.hpp>
#include <apgen/nn/backward.hpp>
#include <apgen/nn/weights.hpp>
#include <apgen/train/objectives.hpp>

#include <algorithm>
#include <cstddef>
#include <exception>
#include <span>
#include <vector>

namespace apgen::train {

/// Mean losses of a batch, by part.
struct batch_loss {
  double total = 0, token = 0, remask = 0, insert = 0, erase = 0;
  std::size_t tokens = 0;          ///< input tokens processed
  std::size_t token_positions = 0; ///< positions with a token target
};

/// Computes batch gradients; keeps per-thread tapes and buffers between calls.
template <class Scalar = float>
class batch_gradient {
public:
  /// Gradient of the mean loss over `batch` with respect to `w`, written into `grad` (overwritten).
  batch_loss compute(const nn::basic_transformer_weights<Scalar>& w, std::span<const example> batch, nn::basic_transformer_weights<Scalar>& grad) {
    if (batch.empty()) apgen::detail::fail<invalid_argument>("batch gradient: empty batch");
#if APGEN_HAS_OPENMP
    const std::size_t threads = std::min<std::size_t>(static_cast<std::size_t>(omp_get_max_threads()), batch.size());
#else
    const std::size_t threads = 1;
#endif
    if (m_grads.size() < threads) m_grads.resize(threads, nn::basic_transformer_weights<Scalar>(w.config));
    m_tapes.resize(std::max(m_tapes.size(), threads));
    m_parts.assign(threads, batch_loss{});
    const double inv_b = 1.0 / static_cast<double>(batch.size());
    std::vector<std::exception_ptr> errors(threads);
    auto chunk = [&](std::size_t c) {
      try {
        auto& g = m_grads[c];
        g.set_zero();
        nn::basic_matrix<Scalar> d_logits, d_controls;
        const std::size_t b = c * batch.size() / threads, e = (c + 1) * batch.size() / threads;
        for (std::size_t i = b; i < e; ++i) {
          const example& ex = batch[i];
          nn::forward_row(w, std::span<const token_id>(ex.input), ex.features, m_tapes[c]);
          const auto l = nn::row_loss_and_grad(w.config, m_tapes[c], ex.supervision(), {ex.token_weight * inv_b, ex.control_weight * inv_b},
                                               d_logits, d_controls);
          nn::backward_row(w, m_tapes[c], d_logits, d_controls, g);
          auto& p = m_parts[c];
          p.total += l.total;
          p.token += l.token * inv_b;
          p.remask += l.remask * inv_b;
          p.insert += l.insert * inv_b;
          p.erase += l.erase * inv_b;
          p.tokens += ex.input.size();
          p.token_positions += l.token_positions;
        }
      } catch (...) {
        errors[c] = std::current_exception();
      }
    };
#if APGEN_HAS_OPENMP
    APGEN_PRAGMA_OMP(parallel for schedule(static, 1) num_threads(static_cast<int>(threads)))
    for (long long c = 0; c < static_cast<long long>(threads); ++c) chunk(static_cast<std::size_t>(c));
#else
    chunk(0);
#endif
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
    // Fixed-order reduction.
    grad = m_grads[0];
    std::vector<Scalar*> dst;
    grad.for_each_tensor([&](const std::string&, auto& t, std::size_t, std::size_t, nn::init_kind) { dst.push_back(t.data()); });
    for (std::size_t c = 1; c < threads; ++c) {
      std::size_t k = 0;
      m_grads[c].for_each_tensor([&](const std::string&, auto& t, std::size_t, std::size_t, nn::init_kind) {
        for (Eigen::Index i = 0; i < t.size(); ++i) dst[k][i] += t.data()[i];
        ++k;
      });
    }
    batch_loss out;
    for (const auto& p : m_parts) {
      out.total += p.total;
      out.token += p.token;
      out.remask += p.remask;
      out.insert += p.insert;
      out.erase += p.erase;
      out.tokens += p.tokens;
      out.token_positions += p.token_positions;
    }
    return out;
  }

private:
  std::vector<nn::basic_transformer_weights<Scalar>> m_grads;
  std::vector<nn::row_tape<Scalar>> m_tapes;
  std::vector<batch_loss> m_parts;
};

} // namespace apgen::train
