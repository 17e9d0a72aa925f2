#pragma once
/// \file
/// The gradient of a batch: the mean of the examples' losses, differentiated. Threads take contiguous chunks of
/// the batch by index (chunk c of T), pack their rows into groups run as one batch each (nn::forward_batch,
/// row_loss_and_grad, backward_batch: one product per dense layer over the group's tokens), accumulate into
/// their own gradient buffers, and the buffers are summed in chunk order, so the same batch and thread count give
/// the same bits every time.

#include <apgen/config.hpp>
#include <apgen/nn/backward.hpp>
#include <apgen/nn/weights.hpp>
#include <apgen/train/loss.hpp>
#include <apgen/train/objectives.hpp>

#include <algorithm>
#include <cstddef>
#include <exception>
#include <span>
#include <string>
#include <vector>

namespace apgen::train {

/// Mean losses of a batch, by part.
struct batch_loss {
  double total = 0, token = 0, remask = 0, insert = 0, erase = 0;
  std::size_t tokens = 0;          ///< input tokens processed
  std::size_t token_positions = 0; ///< positions with a token target
};

/// Computes batch gradients; keeps per-thread tapes and buffers between calls, so steady-state calls do not
/// allocate.
template <class Scalar = float>
class batch_gradient {
public:
  /// A thread packs the rows of its chunk into groups of at most this many tokens (a longer row is a group of its
  /// own) and runs each group as one batch. A thousand rows of products keep Eigen's kernel at full speed, and a
  /// group's activations (~2 MB per T x d_ff matrix at d_ff = 512) stay in cache between the passes over them;
  /// groups of 8192 tokens ran ~7% slower at d = 128. Groups depend only on the batch and the thread count, so
  /// results stay bit for bit reproducible.
  static constexpr std::size_t group_tokens = 1024;

  /// Gradient of the mean loss over `batch` with respect to `w`, written into `grad` (overwritten).
  batch_loss compute(const nn::basic_transformer_weights<Scalar>& w, std::span<const example> batch,
                     nn::basic_transformer_weights<Scalar>& grad) {
    if (batch.empty()) apgen::detail::fail<invalid_argument>("batch gradient: empty batch");
#if APGEN_HAS_OPENMP
    const std::size_t threads = std::min<std::size_t>(static_cast<std::size_t>(omp_get_max_threads()), batch.size());
#else
    const std::size_t threads = 1;
#endif
    if (m_grads.size() < threads) {
      m_grads.resize(threads, nn::basic_transformer_weights<Scalar>(w.config));
      // Walking the tensors builds their names (allocations): list each buffer's tensors once.
      m_tensors.assign(m_grads.size(), {});
      for (std::size_t c = 0; c < m_grads.size(); ++c)
        m_grads[c].for_each_tensor([&](const std::string&, auto& t, std::size_t, std::size_t, nn::init_kind) {
          m_tensors[c].emplace_back(t.data(), static_cast<std::size_t>(t.size()));
        });
    }
    m_tapes.resize(std::max(m_tapes.size(), threads));
    m_parts.assign(threads, batch_loss{});
    m_errors.assign(threads, nullptr);
    const double inv_b = 1.0 / static_cast<double>(batch.size());
    auto chunk = [&](std::size_t c) {
      try {
        for (auto t : m_tensors[c]) std::fill(t.begin(), t.end(), Scalar(0));
        auto& g = m_grads[c];
        auto& tape = m_tapes[c];
        auto& p = m_parts[c];
        const std::size_t b = c * batch.size() / threads, e = (c + 1) * batch.size() / threads;
        for (std::size_t r0 = b; r0 < e;) {
          // The next group: rows r0 .. r1 - 1.
          tape.clear(w.config);
          std::size_t r1 = r0;
          for (std::size_t n = 0; r1 < e && (r1 == r0 || n + batch[r1].input.size() <= group_tokens); ++r1) {
            n += batch[r1].input.size();
            tape.add_row(std::span<const token_id>(batch[r1].input), batch[r1].features);
          }
          nn::forward_batch(w, tape);
          for (std::size_t i = r0; i < r1; ++i) {
            const example& ex = batch[i];
            const auto l = row_loss_and_grad(w.config, tape, i - r0, ex.supervision(),
                                             {ex.token_weight * inv_b, ex.control_weight * inv_b});
            p.total += l.total;
            p.token += l.token * inv_b;
            p.remask += l.remask * inv_b;
            p.insert += l.insert * inv_b;
            p.erase += l.erase * inv_b;
            p.tokens += ex.input.size();
            p.token_positions += l.token_positions;
          }
          nn::backward_batch(w, tape, g);
          r0 = r1;
        }
      } catch (...) {
        m_errors[c] = std::current_exception();
      }
    };
    // Chunk c's rows and buffers are fixed by c, whichever thread runs it.
    apgen::detail::run_team(threads, [&](std::size_t t, std::size_t team) {
      for (std::size_t c = t; c < threads; c += team) chunk(c);
    });
    for (auto& e : m_errors)
      if (e) std::rethrow_exception(e);
    // Fixed-order reduction into the first buffer.
    for (std::size_t c = 1; c < threads; ++c)
      for (std::size_t k = 0; k < m_tensors[0].size(); ++k) {
        const auto dst = m_tensors[0][k], src = m_tensors[c][k];
        for (std::size_t i = 0; i < dst.size(); ++i) dst[i] += src[i];
      }
    grad = m_grads[0];
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
  std::vector<std::vector<std::span<Scalar>>> m_tensors; ///< [thread][tensor]: the storage of m_grads[thread]
  std::vector<nn::batch_tape<Scalar>> m_tapes;
  std::vector<batch_loss> m_parts;
  std::vector<std::exception_ptr> m_errors;
};

} // namespace apgen::train
