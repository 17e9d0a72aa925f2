#pragma once
/// \file
/// The transformer denoiser: token (+ feature) embeddings, pre-LayerNorm blocks with rotary multi-head attention
/// (positions recomputed from the current row at every step) and a GELU or SwiGLU MLP, a final norm, a token head
/// with the SUBS convention (MASK never predicted, decoded positions pinned) and three control heads.
///
/// Rows are packed one after another (no padding): the dense layers run on all tokens of the batch at once, and
/// attention runs per (row, head), so a row's output never depends on the other rows. Threads split the dense
/// layers by token rows and attention by (row, head); Eigen runs each product single-threaded inside them.
/// Causal models keep a KV cache per row: a step re-encodes only the positions after the longest unchanged prefix,
/// so ARM decoding by appending costs O(L) per new token.

#include <apgen/backends/tags.hpp>
#include <apgen/config.hpp>
#include <apgen/core/canvas.hpp>
#include <apgen/core/denoiser_output.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/row_encoding.hpp>
#include <apgen/core/step_context.hpp>
#include <apgen/nn/attention_kernels.hpp>
#include <apgen/nn/config.hpp>
#include <apgen/nn/ops/activations.hpp>
#include <apgen/nn/ops/attention_mask.hpp>
#include <apgen/nn/ops/layer_norm.hpp>
#include <apgen/nn/ops/rope.hpp>
#include <apgen/nn/ops/softmax.hpp>
#include <apgen/nn/packed_gemm.hpp>
#include <apgen/nn/weights.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <vector>

namespace apgen::nn {

/// Settings of the transformer that are not weights. A model with feature embeddings reads its features from the
/// step's row encodings (step_context::encodings: the generator's row_encoder, core/row_encoding.hpp), the same
/// encodings the training examples carry.
struct transformer_options {
  /// Causal models only: reuse keys/values of an unchanged prefix. With feature embeddings this assumes a
  /// position's features depend only on the tokens up to it (true of positional features); turn it off otherwise.
  bool kv_cache = true;
};

namespace detail {
/// Single-thread throughput assumed when deciding whether a product is worth threads (flops per nanosecond; the
/// small products where the choice matters run at about this rate).
inline constexpr double flops_per_ns = 20.0;

/// Runs f(begin, end) over [0, n) split into one contiguous chunk per thread (one chunk without OpenMP, for small
/// n, or when the whole, at `flops_per_row`, is less work than a parallel region is worth). Chunks are multiples
/// of 8 rows so vector loads stay aligned to the row blocks.
template <class F>
void for_row_chunks(std::size_t n, std::size_t min_rows_per_thread, double flops_per_row, F&& f) {
  const auto threads = static_cast<std::size_t>(apgen::detail::available_threads());
  if (threads > 1 && n >= 2 * min_rows_per_thread &&
      apgen::detail::worth_threads(static_cast<double>(n) * flops_per_row / flops_per_ns)) {
    // Chunk boundaries depend on the chunk count only, never on which thread runs a chunk.
    const std::size_t chunks = std::min(threads, n / min_rows_per_thread);
    const std::size_t per = (n + chunks - 1) / chunks, rounded = (per + 7) / 8 * 8;
    apgen::detail::run_team(chunks, [&](std::size_t t, std::size_t team) {
      for (std::size_t c = t; c < chunks; c += team) {
        const std::size_t b = std::min(n, c * rounded), e = std::min(n, b + rounded);
        if (b < e) f(b, e);
      }
    });
    return;
  }
  f(0, n);
}

/// Keeps Eigen's own threading off for the duration of a forward pass (we thread by rows and heads ourselves).
class eigen_single_thread {
public:
  eigen_single_thread() : m_saved(Eigen::nbThreads()) { Eigen::setNbThreads(1); }
  ~eigen_single_thread() { Eigen::setNbThreads(m_saved); }
  eigen_single_thread(const eigen_single_thread&) = delete;
  eigen_single_thread& operator=(const eigen_single_thread&) = delete;

private:
  int m_saved;
};
} // namespace detail

/// The transformer as an apgen::denoiser.
class transformer {
public:
  explicit transformer(transformer_weights w, transformer_options opt = {}) : m_w(std::move(w)), m_opt(std::move(opt)) {
    m_w.config.validate();
    reserve_thread_scratch();
  }

  [[nodiscard]] std::size_t vocab_size() const noexcept { return m_w.config.vocab_size; }
  [[nodiscard]] head_set heads() const noexcept { return {true, m_w.config.control_heads}; }
  [[nodiscard]] const transformer_config& config() const noexcept { return m_w.config; }
  [[nodiscard]] transformer_weights& weights() noexcept {
    reset_cache();
    m_packed_stale = true; // the caller may change them: pack again before the next forward
    return m_w;
  }
  /// Forgets every cached key/value (call after changing weights or to compare with a full re-encode).
  void reset_cache() { m_cache.clear(); }

  /// The denoiser entry point: token logits at the positions ctx.want marks (all when empty), control logits at
  /// every position of every active row.
  void predict(const canvas& c, const step_context& ctx, denoiser_output& out) {
    const auto& cfg = m_w.config;
    if (c.vocab_size() != cfg.vocab_size)
      apgen::detail::fail<shape_mismatch>("transformer: canvas vocabulary has ", c.vocab_size(), " tokens, the model ",
                                          cfg.vocab_size);
    if (c.mask() != cfg.mask_id)
      apgen::detail::fail<shape_mismatch>("transformer: canvas MASK id is ", c.mask(), ", the model was built for ",
                                          cfg.mask_id);
    require_features(c, ctx);
    detail::eigen_single_thread guard;
    reserve_thread_scratch(); // the thread count may have grown since construction
    ensure_packed();
    const bool cached = cfg.causal && m_opt.kv_cache;
    plan_segments(c, ctx, cached);
    m_rope.ensure(c.max_capacity() + 1, cfg.head_dim(), cfg.rope_base);
    embed(c, ctx);
    for (std::size_t l = 0; l < cfg.n_layers; ++l) layer(l, cached);
    final_norm(cached);
    write_outputs(c, ctx, out, cached);
  }

private:
  struct packed_layer {
    packed_weight qkv, out, up, gate, down;
  };

  /// One score scratch, one activation-packing scratch and one transposed-keys scratch per thread a parallel region
  /// may use.
  void reserve_thread_scratch() {
    const auto threads = static_cast<std::size_t>(apgen::detail::available_threads());
    if (m_scores.size() < threads) m_scores.resize(threads);
    if (m_scratch.size() < threads) m_scratch.resize(threads);
    if (m_attention_scratch.size() < threads) m_attention_scratch.resize(threads);
    if (m_blocks.size() < threads) m_blocks.resize(threads);
    const auto rows = static_cast<Eigen::Index>(block_rows()), d = static_cast<Eigen::Index>(m_w.config.d_model),
               ff = static_cast<Eigen::Index>(m_w.config.d_ff);
    for (auto& b : m_blocks) {
      grow(b.a, rows, d);
      grow(b.u, rows, ff);
      if (m_w.config.act == activation::swiglu) grow(b.g, rows, ff);
    }
  }
  /// A thread's activations for one block of rows between a norm and the product that reads it (and the MLP's
  /// hidden layer): block-sized and reused block after block, so they stay in L2. Workspace-wide matrices put each
  /// block at a new address, and the products' first stores went out to memory.
  struct block_buffers {
    matrix a, u, g;
  };
  block_buffers& thread_block() { return m_blocks[thread_index()]; }
  static std::size_t thread_index() {
#if APGEN_HAS_OPENMP
    return static_cast<std::size_t>(omp_get_thread_num());
#else
    return 0;
#endif
  }

  /// A run of positions of one row to encode this step: positions [start, length) of row `row`, stored in the
  /// workspace at rows [packed, packed + length - start).
  struct segment {
    std::size_t row, start, length, packed;
  };
  /// Segments [first_segment, last_segment), whose packed rows are [begin, end). Attention never crosses a
  /// segment, so a group can go through a whole layer on its own.
  struct row_group {
    std::size_t first_segment, last_segment, begin, end;
  };
  struct row_cache {
    std::vector<token_id> tokens; // tokens the cache was built from
    std::vector<matrix> k, v;     // per layer: capacity x d (after RoPE)
    matrix z;                     // final normed hidden state: capacity x d
  };

  void plan_segments(const canvas& c, const step_context& ctx, bool cached) {
    m_segments.clear();
    std::size_t packed = 0;
    if (cached && m_cache.size() != c.rows()) m_cache.assign(c.rows(), row_cache{});
    for (std::size_t r = 0; r < c.rows(); ++r) {
      if (!ctx.is_active(r)) continue;
      const auto row = c.row(r);
      std::size_t start = 0;
      if (cached) {
        auto& rc = m_cache[r];
        const std::size_t cap = c.capacity(r);
        if (static_cast<std::size_t>(rc.z.rows()) != cap) {
          rc.k.assign(m_w.config.n_layers, matrix(cap, m_w.config.d_model));
          rc.v.assign(m_w.config.n_layers, matrix(cap, m_w.config.d_model));
          rc.z.resize(static_cast<Eigen::Index>(cap), static_cast<Eigen::Index>(m_w.config.d_model));
          rc.tokens.clear();
        }
        const auto [a, b] = std::mismatch(rc.tokens.begin(), rc.tokens.end(), row.begin(), row.end());
        start = static_cast<std::size_t>(a - rc.tokens.begin());
        rc.tokens.assign(row.begin(), row.end());
      }
      m_segments.push_back({r, start, row.size(), packed});
      packed += row.size() - start;
    }
    m_rows = packed;
    // Consecutive segments in groups of at most block_rows() packed rows (a longer segment is a group alone).
    m_groups.clear();
    m_largest_group = 0;
    for (std::size_t si = 0; si < m_segments.size();) {
      row_group g{si, si, m_segments[si].packed, m_segments[si].packed};
      while (g.last_segment < m_segments.size()) {
        const auto& s = m_segments[g.last_segment];
        const std::size_t n = s.length - s.start;
        if (g.last_segment > g.first_segment && g.end - g.begin + n > block_rows()) break;
        g.end += n;
        ++g.last_segment;
      }
      m_groups.push_back(g);
      m_largest_group = std::max(m_largest_group, g.end - g.begin);
      si = g.last_segment;
    }
    if (m_position.size() < m_rows) m_position.resize(m_rows);
    for (const auto& s : m_segments)
      for (std::size_t i = s.start; i < s.length; ++i) m_position[s.packed + i - s.start] = i;
    const auto d = static_cast<Eigen::Index>(m_w.config.d_model);
    const auto T = static_cast<Eigen::Index>(m_rows);
    grow(m_h, T, d);
    grow(m_a, T, d);
    grow(m_qkv, T, 3 * d);
    grow(m_att, T, d);
  }

  // Buffers only grow: a step never allocates once the largest batch has been seen.
  static void grow(matrix& m, Eigen::Index rows, Eigen::Index cols) {
    if (m.rows() < rows || m.cols() != cols) m.resize(std::max(rows, m.rows()), cols);
  }
  auto top(matrix& m) {
    return m.topRows(static_cast<Eigen::Index>(m_rows));
  }

  /// A model with feature embeddings needs the step's encodings, of its schema, one per row.
  void require_features(const canvas& c, const step_context& ctx) const {
    const auto& sizes = m_w.config.feature_vocab_sizes;
    if (sizes.empty()) return;
    if (ctx.encodings.empty() || !ctx.schema)
      apgen::detail::fail<invalid_argument>(
          "transformer: the model has ", sizes.size(),
          " feature embeddings and the step carries no row encodings; give the generator the "
          "task's encoder (generator_options::encoder)");
    if (ctx.encodings.size() != c.rows())
      apgen::detail::fail<shape_mismatch>("transformer: ", ctx.encodings.size(), " row encodings for ", c.rows(),
                                          " rows");
    if (ctx.schema->feature_vocab_sizes != sizes)
      apgen::detail::fail<shape_mismatch>("transformer: the encoder's schema has ",
                                          ctx.schema->feature_vocab_sizes.size(),
                                          " features of other sizes than the model's ", sizes.size());
  }

  void embed(const canvas& c, const step_context& ctx) {
    const auto& cfg = m_w.config;
    for (const auto& s : m_segments) {
      const auto row = c.row(s.row);
      const row_encoding* enc = cfg.feature_vocab_sizes.empty() ? nullptr : &ctx.encodings[s.row];
      if (enc)
        for (std::size_t k = 0; k < enc->features.size(); ++k)
          if (enc->features[k].size() != row.size())
            apgen::detail::fail<shape_mismatch>("transformer: feature ", k, " of row ", s.row, " has ",
                                                enc->features[k].size(), " positions, the row has ", row.size());
      for (std::size_t i = s.start; i < s.length; ++i) {
        const auto t = static_cast<Eigen::Index>(s.packed + i - s.start);
        m_h.row(t) = m_w.tok_embed.row(row[i]);
        for (std::size_t k = 0; enc && k < cfg.feature_vocab_sizes.size(); ++k) {
          const token_id f = enc->features[k][i];
          if (f < 0 || static_cast<std::size_t>(f) >= cfg.feature_vocab_sizes[k])
            apgen::detail::fail<invalid_token>("transformer: feature ", k, " of row ", s.row, ", position ", i, " is ",
                                               f, ", outside [0, ", cfg.feature_vocab_sizes[k], ")");
          m_h.row(t) += m_w.feat_embed[k].row(f);
        }
      }
    }
  }

  /// y = x W^T + b (or y += x W^T + b with `accumulate`, the residual form) over the first n rows, threaded by
  /// row chunks.
  template <class X, class Y>
  void linear(const X& x, const packed_weight& w, const row_vector& b, Y& y, std::size_t n_rows,
              bool accumulate = false) {
    const double flops = 2.0 * static_cast<double>(w.rows()) * static_cast<double>(w.cols());
    detail::for_row_chunks(n_rows, 16, flops,
                           [&](std::size_t r0, std::size_t r1) { linear_rows(x, w, b, y, r0, r1, accumulate); });
  }
  /// linear() on rows [r0, r1), on the calling thread, a cache-sized block of rows at a time (the packed product
  /// adds the bias block by block, while each block is in cache).
  template <class X, class Y>
  void linear_rows(const X& x, const packed_weight& w, const row_vector& b, Y& y, std::size_t r0, std::size_t r1,
                   bool accumulate) {
    for (std::size_t b0 = r0; b0 < r1; b0 += block_rows()) {
      const auto n = static_cast<Eigen::Index>(std::min(r1, b0 + block_rows()) - b0), o = static_cast<Eigen::Index>(b0);
      auto yb = y.middleRows(o, n);
      w.apply(x.middleRows(o, n).data(), x.outerStride(), b.data(), yb.data(), yb.outerStride(), n, accumulate,
              scratch());
    }
  }
  /// Rows per block: 256 measured best of 128, 256 and 512 on the three reference shapes (fewer starve the
  /// kernel of columns, more spill a d_ff-wide block out of L2).
  static constexpr std::size_t block_rows() {
    return 256;
  }
  /// Token logits of a run at least this large bypass the cache on their way out (see write_outputs).
  static constexpr std::size_t streamed_output_bytes = std::size_t{8} << 20;
  /// This thread's scratch for packed activations.
  packed_gemm_scratch& scratch() {
    return m_scratch[thread_index()];
  }
  /// Packs every weight matrix the forward multiplies by (once per set of weights: see nn/packed_gemm.hpp).
  void ensure_packed() {
    if (!m_packed_stale) return;
    auto pack = [](packed_weight& p, const matrix& w) { p.pack(w.data(), w.outerStride(), w.rows(), w.cols()); };
    m_packed.resize(m_w.layers.size());
    for (std::size_t l = 0; l < m_w.layers.size(); ++l) {
      const auto& L = m_w.layers[l];
      auto& P = m_packed[l];
      pack(P.qkv, L.qkv_w);
      pack(P.out, L.out_w);
      pack(P.up, L.up_w);
      pack(P.down, L.down_w);
      if (m_w.config.act == activation::swiglu) pack(P.gate, L.gate_w);
    }
    pack(m_head, m_w.head_w);
    m_packed_stale = false;
  }
  void norm(const matrix& x, matrix& y, const row_vector& w, const row_vector& b) {
    detail::for_row_chunks(m_rows, 64, 8.0 * static_cast<double>(m_w.config.d_model),
                           [&](std::size_t r0, std::size_t r1) {
                             const auto n = static_cast<Eigen::Index>(r1 - r0), o = static_cast<Eigen::Index>(r0);
                             auto yb = y.middleRows(o, n);
                             layer_norm_rows(x.middleRows(o, n), yb, w, b, m_w.config.norm_eps);
                           });
  }

  void layer(std::size_t l, bool cached) {
    const auto& L = m_w.layers[l];
    const auto& P = m_packed[l];
    const auto threads = static_cast<std::size_t>(apgen::detail::available_threads());
    const bool threaded =
        apgen::detail::worth_threads(static_cast<double>(m_rows) * layer_flops_per_row() / detail::flops_per_ns);
    if (threaded && m_groups.size() >= 2 * threads && m_largest_group * 2 * threads <= m_rows) {
      // Enough groups of whole rows to share out evenly (none larger than half a thread's share): each thread
      // takes a group through the whole layer, so the group's q/k/v, attention output and residual rows are
      // still in cache at every step.
      std::atomic<std::size_t> next{0};
      apgen::detail::run_team(threads, [&](std::size_t, std::size_t) {
        for (std::size_t g; (g = next.fetch_add(1, std::memory_order_relaxed)) < m_groups.size();)
          layer_group(l, cached, m_groups[g]);
      });
      return;
    }
    // Few long rows: each step of the layer over all rows, split across threads within the step.
    const double d = static_cast<double>(m_w.config.d_model);
    detail::for_row_chunks(m_rows, 16, 6.0 * d * d, [&](std::size_t r0, std::size_t r1) { qkv_rows(L, P, r0, r1); });
    if (cached)
      for (std::size_t si = 0; si < m_segments.size(); ++si) cache_keys_values(l, si);
    attention(l, cached);
    auto h = top(m_h);
    linear(top(m_att), P.out, L.out_b, h, m_rows, true);
    detail::for_row_chunks(m_rows, 16, layer_flops_per_row() - 8.0 * d * d,
                           [&](std::size_t r0, std::size_t r1) { mlp_rows(L, P, r0, r1); });
  }

  /// Multiply-adds (x 2) of one token through a layer's products: QKV and the out-projection (4 d^2), the MLP
  /// (2 or 3 d x d_ff). For the threading decisions only.
  [[nodiscard]] double layer_flops_per_row() const noexcept {
    const double d = static_cast<double>(m_w.config.d_model), ff = static_cast<double>(m_w.config.d_ff);
    return 2.0 * (4.0 * d * d + (m_w.config.act == activation::swiglu ? 3.0 : 2.0) * d * ff);
  }

  /// The whole layer for one group of rows, on the calling thread.
  void layer_group(std::size_t l, bool cached, const row_group& g) {
    const auto& L = m_w.layers[l];
    const auto& P = m_packed[l];
    qkv_rows(L, P, g.begin, g.end);
    if (cached)
      for (std::size_t si = g.first_segment; si < g.last_segment; ++si) cache_keys_values(l, si);
    auto& S = m_scores[thread_index()];
    auto& work = m_attention_scratch[thread_index()];
    for (std::size_t si = g.first_segment; si < g.last_segment; ++si)
      for (std::size_t h = 0; h < m_w.config.n_heads; ++h) attention_head(l, cached, si, h, S, work);
    auto hid = top(m_h);
    linear_rows(top(m_att), P.out, L.out_b, hid, g.begin, g.end, true);
    mlp_rows(L, P, g.begin, g.end);
  }

  /// Norm, QKV product, then rotary embeddings on q and k at each token's position in its row, over rows
  /// [r0, r1) on the calling thread, a block of rows at a time so each step finds the block in cache.
  void qkv_rows(const layer_weights& L, const packed_layer& P, std::size_t r0, std::size_t r1) {
    const auto& cfg = m_w.config;
    const std::size_t dh = cfg.head_dim(), H = cfg.n_heads;
    for (std::size_t b0 = r0; b0 < r1; b0 += block_rows()) {
      const std::size_t b1 = std::min(r1, b0 + block_rows());
      const auto n = static_cast<Eigen::Index>(b1 - b0), o = static_cast<Eigen::Index>(b0);
      auto a = thread_block().a.topRows(n);
      layer_norm_rows(m_h.middleRows(o, n), a, L.norm1_w, L.norm1_b, cfg.norm_eps);
      auto qkv = m_qkv.middleRows(o, n);
      linear_rows(a, P.qkv, L.qkv_b, qkv, 0, b1 - b0, false);
      for (std::size_t r = b0; r < b1; ++r) {
        float* row = m_qkv.row(static_cast<Eigen::Index>(r)).data();
        const std::size_t p = m_position[r];
        if (cfg.rope) rope_apply(row, m_rope.cos_row(p), m_rope.sin_row(p), dh, 2 * H); // q's heads, then k's
      }
    }
  }

  /// Copies segment si's new keys and values of layer l into its row's cache.
  void cache_keys_values(std::size_t l, std::size_t si) {
    const auto& s = m_segments[si];
    const auto d = static_cast<Eigen::Index>(m_w.config.d_model);
    auto& rc = m_cache[s.row];
    const auto n = static_cast<Eigen::Index>(s.length - s.start), p = static_cast<Eigen::Index>(s.packed);
    rc.k[l].middleRows(static_cast<Eigen::Index>(s.start), n) = m_qkv.block(p, d, n, d);
    rc.v[l].middleRows(static_cast<Eigen::Index>(s.start), n) = m_qkv.block(p, 2 * d, n, d);
  }

  /// h += MLP(LayerNorm2(h)) on rows [r0, r1), on the calling thread, a block of rows at a time from the norm to
  /// the down-projection: the block's d_ff activations stay in cache instead of making three trips through memory.
  void mlp_rows(const layer_weights& L, const packed_layer& P, std::size_t r0, std::size_t r1) {
    for (std::size_t b0 = r0; b0 < r1; b0 += block_rows()) mlp_block(L, P, b0, std::min(r1, b0 + block_rows()));
  }
  void mlp_block(const layer_weights& L, const packed_layer& P, std::size_t r0, std::size_t r1) {
    const auto o = static_cast<Eigen::Index>(r0), n = static_cast<Eigen::Index>(r1 - r0);
    auto& blk = thread_block();
    auto a = blk.a.topRows(n), u = blk.u.topRows(n);
    auto h = m_h.middleRows(o, n);
    layer_norm_rows(h, a, L.norm2_w, L.norm2_b, m_w.config.norm_eps);
    linear_rows(a, P.up, L.up_b, u, 0, r1 - r0, false);
    if (m_w.config.act == activation::gelu) {
      gelu_in_place(u);
    } else {
      auto g = blk.g.topRows(n);
      linear_rows(a, P.gate, L.gate_b, g, 0, r1 - r0, false);
      swiglu_in_place(g, u);
    }
    linear_rows(u, P.down, L.down_b, h, 0, r1 - r0, true);
  }

  /// Attention of layer l over every (segment, head), spread over the threads.
  void attention(std::size_t l, bool cached) {
    const std::size_t H = m_w.config.n_heads, jobs = m_segments.size() * H;
    // 4 flops per (query, key, head dimension): the scores and the weighted values.
    double flops = 0;
    for (const auto& s : m_segments)
      flops += 4.0 * static_cast<double>(s.length - s.start) * static_cast<double>(s.length) *
               static_cast<double>(m_w.config.d_model);
    const std::size_t team = apgen::detail::worth_threads(flops / detail::flops_per_ns)
                                 ? static_cast<std::size_t>(apgen::detail::available_threads())
                                 : 1;
    // (row, head) jobs one at a time from a shared counter: rows differ in length, so the cost of a job varies.
    std::atomic<std::size_t> next{0};
    apgen::detail::run_team(std::min(jobs, team), [&](std::size_t t, std::size_t) {
      for (std::size_t j; (j = next.fetch_add(1, std::memory_order_relaxed)) < jobs;)
        attention_head(l, cached, j / H, j % H, m_scores[t], m_attention_scratch[t]);
    });
  }

  /// One head of layer l's attention for segment si: softmax(Q K^T / sqrt(dh)) V into the head's columns of m_att.
  void attention_head(std::size_t l, bool cached, std::size_t si, std::size_t head, matrix& S,
                      attention_kernels::scratch& kernel_scratch) {
    const auto& cfg = m_w.config;
    const auto d = static_cast<Eigen::Index>(cfg.d_model), dh = static_cast<Eigen::Index>(cfg.head_dim());
    const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
    const bool fast = attention_kernels::supports(static_cast<std::size_t>(dh));
    const auto& s = m_segments[si];
    const auto h = static_cast<Eigen::Index>(head);
    const auto nq = static_cast<Eigen::Index>(s.length - s.start), nk = static_cast<Eigen::Index>(s.length);
    if (nq == 0) return;
    const auto p = static_cast<Eigen::Index>(s.packed);
    using cmap = Eigen::Map<const matrix, 0, Eigen::OuterStride<>>;
    const cmap Q(m_qkv.data() + p * 3 * d + h * dh, nq, dh, Eigen::OuterStride<>(3 * d));
    const float* kp = cached ? m_cache[s.row].k[l].data() + h * dh : m_qkv.data() + p * 3 * d + d + h * dh;
    const float* vp = cached ? m_cache[s.row].v[l].data() + h * dh : m_qkv.data() + p * 3 * d + 2 * d + h * dh;
    const Eigen::Index kv_stride = cached ? d : 3 * d;
    const cmap K(kp, nk, dh, Eigen::OuterStride<>(kv_stride));
    const cmap V(vp, nk, dh, Eigen::OuterStride<>(kv_stride));
    // Queries go in blocks; each block multiplies only against the keys some query of it may see. Without a
    // window that is one block over every key (the plain dense product); with a window of w the keys of a
    // block of b queries are at most b + 2w, so long rows cost O(L * w).
    const auto start = static_cast<Eigen::Index>(s.start);
    const auto w = static_cast<Eigen::Index>(cfg.attention_window);
    const bool banded = w > 0 && w < nk;
    const bool masked = masks_keys(cfg, nk);
    const Eigen::Index block = banded ? std::min<Eigen::Index>(nq, 64) : nq;
    const float neg_inf = -std::numeric_limits<float>::infinity();
    for (Eigen::Index q0 = 0; q0 < nq; q0 += block) {
      const Eigen::Index bq = std::min(block, nq - q0);
      const Eigen::Index first = start + q0, last = first + bq - 1; // in-row indices of the block's queries
      // The block's keys: from its first query's lowest visible key to its last query's highest
      // (nn/ops/attention_mask.hpp).
      const Eigen::Index k_lo = visible_keys(cfg, first, nk).lo, k_hi = visible_keys(cfg, last, nk).hi;
      const Eigen::Index nkb = k_hi - k_lo;
      // A tight view of the scratch: its layout, and so the product's rounding, depends only on the shape, not on
      // how large earlier rows made the scratch (same input, same scores, bit for bit). The vector kernels'
      // rows are padded to whole vectors.
      const Eigen::Index lds =
          fast ? static_cast<Eigen::Index>(attention_kernels::padded_keys(static_cast<std::size_t>(nkb))) : nkb;
      if (S.size() < bq * (lds + 1)) S.resize(bq * (lds + 1), 1); // the scores, then each row's 1 / sum
      Eigen::Map<matrix, 0, Eigen::OuterStride<>> sc(S.data(), bq, nkb, Eigen::OuterStride<>(lds));
      if (fast) // 1/sqrt(dh) goes in the softmax
        attention_kernels::scores(Q.row(q0).data(), static_cast<std::size_t>(3 * d), K.row(k_lo).data(),
                                  static_cast<std::size_t>(kv_stride), static_cast<std::size_t>(bq),
                                  static_cast<std::size_t>(nkb), static_cast<std::size_t>(dh), S.data(),
                                  static_cast<std::size_t>(lds), kernel_scratch);
      else
        sc.noalias() = Q.middleRows(q0, bq) * K.middleRows(k_lo, nkb).transpose();
      if (masked) {
        for (Eigen::Index i = 0; i < bq; ++i) {
          const auto [lo, hi] = visible_keys(cfg, first + i, nk);
          if (lo > k_lo) sc.row(i).head(lo - k_lo).setConstant(neg_inf);
          if (hi < k_hi) sc.row(i).tail(k_hi - hi).setConstant(neg_inf);
        }
      }
      Eigen::Map<matrix, 0, Eigen::OuterStride<>> O(m_att.data() + (p + q0) * d + h * dh, bq, dh,
                                                    Eigen::OuterStride<>(d));
      if (fast) { // the value kernel divides by each row's sum as it stores
        float* inverse_sums = S.data() + bq * lds;
        softmax_rows(sc, scale, inverse_sums);
        attention_kernels::values(S.data(), static_cast<std::size_t>(lds), V.row(k_lo).data(),
                                  static_cast<std::size_t>(kv_stride), static_cast<std::size_t>(bq),
                                  static_cast<std::size_t>(nkb), static_cast<std::size_t>(dh), O.data(),
                                  static_cast<std::size_t>(d), inverse_sums);
      } else {
        softmax_rows(sc, scale);
        O.noalias() = sc * V.middleRows(k_lo, nkb);
      }
    }
  }

  void final_norm(bool cached) {
    norm(m_h, m_a, m_w.norm_w, m_w.norm_b);
    if (cached)
      for (const auto& s : m_segments)
        m_cache[s.row].z.middleRows(static_cast<Eigen::Index>(s.start), static_cast<Eigen::Index>(s.length - s.start)) =
            m_a.middleRows(static_cast<Eigen::Index>(s.packed), static_cast<Eigen::Index>(s.length - s.start));
  }

  /// The final hidden state of position i of segment s (from the workspace, or the cache for an old position).
  const float* z_row(const segment& s, std::size_t i, bool cached) const {
    if (cached) return m_cache[s.row].z.row(static_cast<Eigen::Index>(i)).data();
    return m_a.row(static_cast<Eigen::Index>(s.packed + i)).data();
  }

  void write_outputs(const canvas& c, const step_context& ctx, denoiser_output& out, bool cached) {
    const auto& cfg = m_w.config;
    const auto d = static_cast<Eigen::Index>(cfg.d_model), V = static_cast<Eigen::Index>(cfg.vocab_size);
    const float neg_inf = -std::numeric_limits<float>::infinity();
    // The head runs only where token logits are read and not pinned (SUBS: a decoded input token is certain).
    // Such positions form runs of consecutive positions per row.
    m_runs.clear();
    for (std::size_t si = 0; si < m_segments.size(); ++si) {
      const auto& s = m_segments[si];
      const std::size_t k0 = out.row_offset(s.row);
      const auto x = c.row(s.row);
      std::size_t begin = s.length;
      for (std::size_t i = 0; i <= s.length; ++i) {
        bool need = false;
        if (i < s.length && ctx.wants_tokens(k0 + i)) {
          if (cfg.causal && i == 0 && !(cfg.pin_decoded && x[0] != cfg.mask_id)) {
            // Nothing precedes position 0, so a next-token head has no prediction for it: uniform.
            auto row = out.tokens(s.row).row(0);
            std::fill(row.begin(), row.end(), 0.0f);
            row[static_cast<std::size_t>(cfg.mask_id)] = neg_inf;
          } else if (cfg.pin_decoded && x[i] != cfg.mask_id) {
            auto row = out.tokens(s.row).row(i);
            std::fill(row.begin(), row.end(), neg_inf);
            row[static_cast<std::size_t>(x[i])] = 0.0f;
          } else {
            need = true;
          }
        }
        if (need && begin == s.length) begin = i;
        if (!need && begin != s.length) {
          m_runs.push_back({si, begin, i});
          begin = s.length;
        }
      }
    }
    using cmap = Eigen::Map<const matrix, 0, Eigen::OuterStride<>>;
    using map = Eigen::Map<matrix, 0, Eigen::OuterStride<>>;
    // A causal model's head predicts the next token (as ARM training teaches it, train::arm_example): the logits of
    // position i come from the state of position i - 1, so a MASK appended at i is filled from what precedes it.
    const std::size_t lag = cfg.causal ? 1 : 0;
    auto source = [&](const segment& s, std::size_t i, std::size_t n) {
      return cmap(z_row(s, i - lag, cached), static_cast<Eigen::Index>(n), d, Eigen::OuterStride<>(d));
    };
    if (m_runs.size() <= m_segments.size()) {
      // Few long runs (every MDM/AP-MDM step over full rows): products straight into the output, no copies.
      for (const auto& [si, b, e] : m_runs) {
        const auto& s = m_segments[si];
        const cmap z = source(s, b, e - b);
        map y(out.tokens(s.row).row(b).data(), static_cast<Eigen::Index>(e - b), V, Eigen::OuterStride<>(V));
        // Logits far larger than the caches (a 32,000-token head over 256 positions is 32 MB) are streamed out
        // block by block; smaller ones stay in cache for the sampler that reads them next.
        if ((e - b) * static_cast<std::size_t>(V) * sizeof(float) >= streamed_output_bytes)
          detail::for_row_chunks(e - b, 16, 2.0 * static_cast<double>(d) * static_cast<double>(V),
                                 [&](std::size_t r0, std::size_t r1) {
                                   const auto o = static_cast<Eigen::Index>(r0);
                                   m_head.apply_streamed(z.row(o).data(), d, m_w.head_b.data(), y.row(o).data(), V,
                                                         static_cast<Eigen::Index>(r1 - r0), scratch());
                                 });
        else
          linear(z, m_head, m_w.head_b, y, e - b);
      }
    } else {
      // Many short runs (an ARM step reads one position a row): gather them so one product streams the head's
      // weights once for all of them, then scatter.
      std::size_t n = 0;
      for (const auto& [si, b, e] : m_runs) n += e - b;
      grow(m_zw, static_cast<Eigen::Index>(n), d);
      grow(m_logits, static_cast<Eigen::Index>(n), V);
      Eigen::Index w = 0;
      for (const auto& [si, b, e] : m_runs) {
        m_zw.middleRows(w, static_cast<Eigen::Index>(e - b)) = source(m_segments[si], b, e - b);
        w += static_cast<Eigen::Index>(e - b);
      }
      auto lg = m_logits.topRows(static_cast<Eigen::Index>(n));
      linear(m_zw.topRows(static_cast<Eigen::Index>(n)), m_head, m_w.head_b, lg, n);
      w = 0;
      for (const auto& [si, b, e] : m_runs) {
        const auto& s = m_segments[si];
        map y(out.tokens(s.row).row(b).data(), static_cast<Eigen::Index>(e - b), V, Eigen::OuterStride<>(V));
        y = m_logits.middleRows(w, static_cast<Eigen::Index>(e - b));
        w += static_cast<Eigen::Index>(e - b);
      }
    }
    for (const auto& [si, b, e] : m_runs)
      for (std::size_t i = b; i < e; ++i)
        out.tokens(m_segments[si].row)(i, static_cast<std::size_t>(cfg.mask_id)) = neg_inf;
    if (!cfg.control_heads || out.control_data().empty()) return;
    for (const auto& s : m_segments) {
      auto ctl = out.controls(s.row);
      for (std::size_t i = 0; i < s.length; ++i) {
        const float* z = z_row(s, i, cached);
        for (std::size_t k = 0; k < 3; ++k)
          ctl(i, k) = dot_product(m_w.ctl_w.row(static_cast<Eigen::Index>(k)).data(), z, static_cast<std::size_t>(d)) +
                      m_w.ctl_b[static_cast<Eigen::Index>(k)];
      }
    }
  }

  transformer_weights m_w;
  transformer_options m_opt;
  rope_table m_rope;
  std::vector<segment> m_segments;
  std::vector<row_group> m_groups;
  std::size_t m_largest_group = 0; // packed rows
  std::vector<row_cache> m_cache;
  struct run {
    std::size_t segment, begin, end;
  };
  std::vector<run> m_runs;
  std::size_t m_rows = 0;
  std::vector<std::size_t> m_position; // packed row -> its token's position in its canvas row
  matrix m_h, m_a, m_qkv, m_att, m_zw, m_logits;
  std::vector<block_buffers> m_blocks; // per thread
  std::vector<matrix> m_scores;
  std::vector<attention_kernels::scratch> m_attention_scratch; // per thread
  std::vector<packed_gemm_scratch> m_scratch;                  // per thread
  std::vector<packed_layer> m_packed;
  packed_weight m_head;
  bool m_packed_stale = true;
};

} // namespace apgen::nn
