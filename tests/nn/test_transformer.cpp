// The transformer denoiser inside the engine: rows are independent of their batch, ARM with the KV cache decodes
// exactly as ARM by full re-encode, SUBS holds, and bad configurations and inputs are refused by name.
#include <apgen/apgen.hpp>
#include <apgen/nn/backward.hpp>
#include <apgen/nn/transformer.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

apgen::vocabulary make_vocab(std::size_t symbols) {
  std::vector<std::string> s;
  for (std::size_t i = 0; i < symbols; ++i) {
    std::string name = "t"; // not "t" + to_string(i): g++ 12 -O3 reports a false -Wrestrict inside that operator+
    name += std::to_string(i);
    s.push_back(std::move(name));
  }
  return apgen::vocabulary(s, {"[MASK]", "", "", "[EOS]"});
}

apgen::nn::transformer_config small_config(std::size_t V, bool causal) {
  return {.vocab_size = V,
          .d_model = 32,
          .n_layers = 2,
          .n_heads = 4,
          .d_ff = 64,
          .causal = causal,
          .control_heads = !causal};
}

// Logits of every position of every row of `c`, through the denoiser interface.
std::vector<std::vector<float>> logits_of(apgen::nn::transformer& m, const apgen::canvas& c) {
  apgen::denoiser_output out;
  out.reshape(c, m.heads());
  m.predict(c, apgen::step_context{}, out);
  std::vector<std::vector<float>> rows;
  for (std::size_t r = 0; r < c.rows(); ++r) {
    auto t = out.tokens(r);
    rows.emplace_back(t.data(), t.data() + t.rows() * t.cols());
    auto ctl = out.controls(r);
    if (ctl.rows()) rows.back().insert(rows.back().end(), ctl.data(), ctl.data() + ctl.rows() * ctl.cols());
  }
  return rows;
}

void check_close(const std::vector<float>& a, const std::vector<float>& b, float tol) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::isinf(a[i]) || std::isinf(b[i])) {
      CHECK(a[i] == b[i]);
      continue;
    }
    CHECK(std::abs(a[i] - b[i]) <= tol * (1 + std::abs(b[i])));
  }
}

// `rows` rows of random tokens, row r of length 1 + (r * stride) % span (every length mod small powers of two).
apgen::canvas ragged_batch(const apgen::vocabulary& v, std::size_t rows, std::size_t capacity, std::size_t stride,
                           std::size_t span, unsigned seed) {
  std::mt19937 rng(seed);
  apgen::canvas batch(v, rows, capacity);
  for (std::size_t r = 0; r < rows; ++r) {
    std::vector<apgen::token_id> t(1 + (r * stride) % span);
    for (auto& x : t) x = static_cast<apgen::token_id>(rng() % v.size());
    batch.assign(r, t);
  }
  return batch;
}

// Bit-for-bit equality (memcmp of the floats), with the first differing index in the failure message.
void check_same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  if (std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0) return;
  std::size_t first = 0, count = 0;
  for (std::size_t i = a.size(); i-- > 0;)
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) {
      first = i;
      ++count;
    }
  FAIL_CHECK(count, " of ", a.size(), " scores differ in their bits; the first at index ", first, ": ", a[first],
             " vs ", b[first]);
}

// Runs f() with the OpenMP thread count set to n (a no-op without OpenMP).
template <class F>
auto with_threads([[maybe_unused]] int n, F&& f) {
#if APGEN_HAS_OPENMP
  const int saved = omp_get_max_threads();
  omp_set_num_threads(n);
  auto result = f();
  omp_set_num_threads(saved);
  return result;
#else
  return f();
#endif
}

} // namespace

TEST_SUITE("transformer") {

  TEST_CASE("bit for bit: a row's scores are the same alone, in any batch and at any thread count") {
    // Shapes chosen to leave remainders everywhere a kernel could take another path for some rows: a vocabulary,
    // d_ff and d_model that are not multiples of any vector width (row addresses of every alignment), rows of
    // every length mod 4, 8 and 16, and a batch large enough for the grouped forward and several thread chunks.
    const auto v = make_vocab(63); // 67 tokens with the specials
    struct shape {
      std::size_t d, heads, ff;
      apgen::nn::activation act;
      bool causal;
    };
    for (const shape s : {shape{64, 4, 130, apgen::nn::activation::gelu, false},
                          shape{72, 4, 100, apgen::nn::activation::swiglu, false},
                          shape{64, 2, 130, apgen::nn::activation::gelu, true}}) {
      CAPTURE(s.d);
      CAPTURE(s.ff);
      CAPTURE(s.causal);
      const apgen::nn::transformer_config cfg{.vocab_size = v.size(),
                                              .d_model = s.d,
                                              .n_layers = 2,
                                              .n_heads = s.heads,
                                              .d_ff = s.ff,
                                              .act = s.act,
                                              .causal = s.causal,
                                              .control_heads = !s.causal,
                                              .pin_decoded = false};
      const auto w = apgen::nn::transformer_weights::random(cfg, 17, 0.3f);
      const std::size_t rows = 40;
      const apgen::canvas batch = ragged_batch(v, rows, 160, 29, 140, 5);
      const auto one_thread = with_threads(1, [&] {
        apgen::nn::transformer m(w, {.kv_cache = false});
        return logits_of(m, batch);
      });
      const auto two_threads = with_threads(2, [&] {
        apgen::nn::transformer m(w, {.kv_cache = false});
        return logits_of(m, batch);
      });
      for (std::size_t r = 0; r < rows; ++r) {
        CAPTURE(r);
        check_same_bits(one_thread[r], two_threads[r]);
        if (r % 3) continue;
        apgen::canvas alone(v, 1, 160);
        alone.assign(0, batch.row(r));
        for (const int threads : {1, 2}) {
          CAPTURE(threads);
          const auto single = with_threads(threads, [&] {
            apgen::nn::transformer m(w, {.kv_cache = false});
            return logits_of(m, alone);
          });
          check_same_bits(single[0], one_thread[r]);
        }
      }
    }
  }

  TEST_CASE("a row's scores do not depend on the other rows of the batch") {
    const auto v = make_vocab(10);
    auto w = apgen::nn::transformer_weights::random(small_config(v.size(), false), 3, 0.2f);
    apgen::nn::transformer m(w);
    apgen::canvas batch(v, std::vector<std::size_t>{20, 20, 20});
    batch.assign(0, {2, 0, 5, 7, 0, 0, 3});
    batch.assign(1, {4});
    batch.assign(2, {0, 0, 0, 6, 8, 9, 2, 3, 0, 0, 4, 5, 1, 0});
    const auto together = logits_of(m, batch);
    for (std::size_t r = 0; r < 3; ++r) {
      apgen::canvas alone(v, 1, 20);
      alone.assign(0, batch.row(r));
      check_same_bits(logits_of(m, alone)[0], together[r]);
    }
  }

  TEST_CASE("a large ragged batch, layer by layer in groups of rows, gives each row what it gets alone") {
    // Enough tokens (~3,000) for several groups of block_rows() packed rows per thread: the forward then takes each
    // group through a whole layer at once, while a row alone goes step by step over all its rows.
    const auto v = make_vocab(10);
    for (const bool causal : {false, true}) {
      CAPTURE(causal);
      apgen::nn::transformer m(apgen::nn::transformer_weights::random(small_config(v.size(), causal), 5, 0.2f));
      const std::size_t rows = 40;
      const apgen::canvas batch = ragged_batch(v, rows, 200, 37, 150, 11);
      const auto together = logits_of(m, batch);
      for (std::size_t r = 0; r < rows; r += 3) {
        apgen::nn::transformer alone_model(m.weights());
        apgen::canvas alone(v, 1, 200);
        alone.assign(0, batch.row(r));
        check_same_bits(logits_of(alone_model, alone)[0], together[r]);
      }
    }
  }

  TEST_CASE("a head too large for the caches, streamed out, gives the logits of the cached path") {
    // 300 positions x 8,000 tokens is 9.6 MB of logits, past the streaming threshold. Asking for every other
    // position instead splits the head into short runs that take the ordinary path; the hidden states are the same.
    const auto v = make_vocab(8000);
    apgen::nn::transformer m(apgen::nn::transformer_weights::random(
        {.vocab_size = v.size(), .d_model = 32, .n_layers = 1, .n_heads = 2, .d_ff = 64, .pin_decoded = false}, 9,
        0.2f));
    const std::size_t L = 300;
    apgen::canvas c(v, 1, L);
    std::vector<apgen::token_id> t(L);
    for (std::size_t i = 0; i < L; ++i) t[i] = static_cast<apgen::token_id>((i * 7919) % v.size());
    c.assign(0, t);
    REQUIRE(L * v.size() * sizeof(float) >= (std::size_t{8} << 20));
    apgen::denoiser_output all, some;
    all.reshape(c, m.heads());
    some.reshape(c, m.heads());
    m.predict(c, apgen::step_context{}, all);
    for (std::size_t parity : {0, 1}) { // every other position, then the others
      std::vector<std::uint8_t> want(L);
      for (std::size_t i = parity; i < L; i += 2) want[i] = 1;
      apgen::step_context ctx;
      ctx.want = want;
      m.predict(c, ctx, some);
      for (std::size_t i = parity; i < L; i += 2) {
        const auto a = all.tokens(0).row(i), b = some.tokens(0).row(i);
        check_close(std::vector<float>(a.begin(), a.end()), std::vector<float>(b.begin(), b.end()), 1e-6f);
      }
    }
  }

  TEST_CASE("SUBS: MASK is never predicted and decoded positions are pinned") {
    const auto v = make_vocab(6);
    auto cfg = small_config(v.size(), false);
    apgen::nn::transformer m(apgen::nn::transformer_weights::random(cfg, 1, 0.2f));
    apgen::canvas c(v, 1, 8);
    c.assign(0, {0, 3, 0, 5});
    apgen::denoiser_output out;
    out.reshape(c, m.heads());
    m.predict(c, {}, out);
    auto t = out.tokens(0);
    for (std::size_t i = 0; i < 4; ++i) {
      CHECK(std::isinf(t(i, 0)));
      if (c.row(0)[i] != 0) {
        for (std::size_t j = 0; j < v.size(); ++j)
          CHECK(t(i, j) == (static_cast<int>(j) == c.row(0)[i] ? 0.0f : -INFINITY));
      } else {
        CHECK(std::isfinite(t(i, 2)));
      }
    }
    // A freshly initialised model's controls sit near the -2 bias: nothing fires.
    apgen::nn::transformer fresh(apgen::nn::transformer_weights::random(cfg, 1));
    fresh.predict(c, {}, out);
    for (std::size_t i = 0; i < 4; ++i)
      for (std::size_t k = 0; k < 3; ++k) CHECK(out.controls(0)(i, k) == doctest::Approx(-2.0).epsilon(0.2));
  }

  TEST_CASE("ARM with the KV cache decodes the same tokens as ARM by full re-encode") {
    const auto v = make_vocab(12);
    auto w = apgen::nn::transformer_weights::random(small_config(v.size(), true), 9, 0.3f);
    for (bool append : {true, false}) {
      CAPTURE(append);
      apgen::canvas a(v, 3, 40), b(v, 3, 40);
      for (std::size_t r = 0; r < 3; ++r) {
        std::vector<int> prompt{static_cast<int>(2 + r), 5, 7};
        if (append) {
          prompt.push_back(0);
          a.assign(r, prompt, 3);
          b.assign(r, prompt, 3);
        } else {
          a.assign_prompt_and_masks(r, prompt, 20 + r);
          b.assign_prompt_and_masks(r, prompt, 20 + r);
        }
      }
      apgen::nn::transformer cached(w, {.kv_cache = true});
      apgen::nn::transformer full(w, {.kv_cache = false});
      const apgen::generator_options opt{.seed = 4, .max_steps = 40};
      if (append) {
        auto g1 = apgen::make_generator<apgen::edits::arm_append>(
            std::move(cached),
            apgen::schedules::autoregressive<apgen::sampling::temperature>(apgen::sampling::temperature(1.0)), opt);
        auto g2 = apgen::make_generator<apgen::edits::arm_append>(
            std::move(full),
            apgen::schedules::autoregressive<apgen::sampling::temperature>(apgen::sampling::temperature(1.0)), opt);
        g1.generate(a);
        g2.generate(b);
      } else {
        auto g1 = apgen::make_generator(std::move(cached), apgen::schedules::autoregressive<>(), opt);
        auto g2 = apgen::make_generator(std::move(full), apgen::schedules::autoregressive<>(), opt);
        g1.generate(a);
        g2.generate(b);
      }
      for (std::size_t r = 0; r < 3; ++r) {
        CHECK(std::vector<int>(a.row(r).begin(), a.row(r).end()) == std::vector<int>(b.row(r).begin(), b.row(r).end()));
        CHECK(a.length(r) > 10);
      }
    }
  }

  TEST_CASE("the transformer decodes as MDM and AP-MDM through the engine") {
    const auto v = make_vocab(8);
    apgen::nn::transformer m(apgen::nn::transformer_weights::random(small_config(v.size(), false), 2));
    apgen::canvas c(v, 2, 64);
    c.assign_prompt_and_masks(0, std::vector<int>{3}, 10);
    c.assign_prompt_and_masks(1, std::vector<int>{4, 5}, 6);
    auto mdm = apgen::make_generator(m, apgen::schedules::top_margin(apgen::schedules::unmask_count::fixed_k(2)));
    const auto res = mdm.generate(c);
    CHECK(res.rows[0].reason == apgen::stop_reason::no_mask_left);
    CHECK(c.count_masks(0) == 0);
    c.assign_prompt_and_masks(0, std::vector<int>{3}, 10);
    auto ap = apgen::make_generator(m, apgen::schedules::any_process<>(), {.max_steps = 20});
    const auto res2 = ap.generate(c);
    CHECK(res2.rows[0].reason == apgen::stop_reason::fixed_point); // fresh controls never fire: unmask all, then settle
    CHECK(c.count_masks(0) == 0);
  }

  TEST_CASE("polish over the transformer: pinned positions (-inf logits) are scored, not refused") {
    // SUBS pinning gives a decoded position 0 for its token and -inf for every other; polish scores those
    // positions, so every backend must accept -inf as an impossible token.
    const auto v = make_vocab(8);
    apgen::nn::transformer m(apgen::nn::transformer_weights::random(small_config(v.size(), false), 2));
    const auto run = [&]<class Backend>(Backend) {
      apgen::canvas c(v, 2, 16);
      c.assign_prompt_and_masks(0, std::vector<int>{3}, 9);
      c.assign_prompt_and_masks(1, std::vector<int>{4, 5}, 6);
      using polished = apgen::schedules::with_polish<apgen::schedules::masked_diffusion<>>;
      auto gen = apgen::make_generator<apgen::edits::mdm_remask, Backend>(
          m, polished(apgen::schedules::masked_diffusion<>{}, {0.5, 2, 3}), {.max_steps = 200});
      const auto res = gen.generate(c);
      for (std::size_t r = 0; r < 2; ++r) CHECK(c.count_masks(r) == 0);
      CHECK(res.steps < 200);
      return std::vector<int>(c.row(0).begin(), c.row(0).end());
    };
    const auto serial = run(apgen::backends::serial{});
    CHECK(run(apgen::backends::simd{}) == serial);
    CHECK(run(apgen::backends::omp{}) == serial);
  }

  TEST_CASE("bad configurations and inputs are refused by name") {
    auto cfg = small_config(8, false);
    cfg.n_heads = 5;
    CHECK_THROWS_WITH_AS(cfg.validate(), doctest::Contains("not a multiple of n_heads"), apgen::invalid_argument);
    cfg = small_config(8, false);
    cfg.mask_id = 9;
    CHECK_THROWS_WITH_AS(cfg.validate(), doctest::Contains("mask_id"), apgen::invalid_argument);
    cfg = small_config(8, false);
    cfg.feature_vocab_sizes = {3};
    apgen::nn::transformer bad_features(apgen::nn::transformer_weights::random(cfg, 1));
    const auto v = make_vocab(6);
    apgen::canvas c(v, 1, 8);
    c.assign(0, {1, 2, 3, 4});
    apgen::denoiser_output out;
    out.reshape(c, bad_features.heads());
    // A model with features and a step without encodings: refused by name, not read out of bounds.
    CHECK_THROWS_WITH_AS(bad_features.predict(c, {}, out), doctest::Contains("generator_options::encoder"),
                         apgen::invalid_argument);
    // An encoding whose feature id is outside the embedding (built by hand: a row_encoder would refuse it itself).
    const apgen::feature_schema schema{.feature_vocab_sizes = {3}};
    std::vector<apgen::row_encoding> enc(1);
    enc[0].features = {{0, 1, 2, 3}};
    CHECK_THROWS_WITH_AS(bad_features.predict(c, apgen::step_context{.encodings = enc, .schema = &schema}, out),
                         doctest::Contains("feature 0 of row 0, position 3"), apgen::invalid_token);
    const apgen::feature_schema other_schema{.feature_vocab_sizes = {4}};
    CHECK_THROWS_WITH_AS(bad_features.predict(c, apgen::step_context{.encodings = enc, .schema = &other_schema}, out),
                         doctest::Contains("schema"), apgen::shape_mismatch);
    apgen::nn::transformer other(apgen::nn::transformer_weights::random(small_config(12, false), 1));
    CHECK_THROWS_WITH_AS(other.predict(c, {}, out), doctest::Contains("vocabulary"), apgen::shape_mismatch);
  }

  TEST_CASE("config metadata round trip, and malformed metadata is named") {
    auto cfg = small_config(8, true);
    cfg.feature_vocab_sizes = {9, 9, 3};
    cfg.act = apgen::nn::activation::swiglu;
    const auto back = apgen::nn::transformer_config::from_metadata(cfg.to_metadata());
    CHECK(back.to_metadata() == cfg.to_metadata());
    auto m = cfg.to_metadata();
    m.erase("d_model");
    CHECK_THROWS_WITH_AS(static_cast<void>(apgen::nn::transformer_config::from_metadata(m)),
                         doctest::Contains("d_model"), apgen::parse_error);
    m = cfg.to_metadata();
    m["n_heads"] = "four";
    CHECK_THROWS_WITH_AS(static_cast<void>(apgen::nn::transformer_config::from_metadata(m)),
                         doctest::Contains("n_heads"), apgen::parse_error);
    m = cfg.to_metadata();
    m["activation"] = "relu";
    CHECK_THROWS_AS(static_cast<void>(apgen::nn::transformer_config::from_metadata(m)), apgen::parse_error);
    // The window came after the first files were written: without the key a model attends everywhere.
    cfg.attention_window = 7;
    CHECK(apgen::nn::transformer_config::from_metadata(cfg.to_metadata()).attention_window == 7);
    m = cfg.to_metadata();
    m.erase("attention_window");
    CHECK(apgen::nn::transformer_config::from_metadata(m).attention_window == 0);
    m["attention_window"] = "-1";
    CHECK_THROWS_WITH_AS(static_cast<void>(apgen::nn::transformer_config::from_metadata(m)),
                         doctest::Contains("attention_window"), apgen::parse_error);
    // So did the rotary switch: without the key a model uses rotary positions.
    cfg.rope = false;
    CHECK_FALSE(apgen::nn::transformer_config::from_metadata(cfg.to_metadata()).rope);
    m = cfg.to_metadata();
    m.erase("rope");
    CHECK(apgen::nn::transformer_config::from_metadata(m).rope);
    m["rope"] = "no";
    CHECK_THROWS_WITH_AS(static_cast<void>(apgen::nn::transformer_config::from_metadata(m)), doctest::Contains("rope"),
                         apgen::parse_error);
  }

  TEST_CASE("without rotary positions a bidirectional model is blind to order, in inference and in training") {
    const auto v = make_vocab(9);
    std::mt19937 rng(8);
    std::vector<int> row(23), reversed;
    for (auto& x : row) x = static_cast<int>(rng() % v.size());
    reversed.assign(row.rbegin(), row.rend());
    for (bool rope : {false, true}) {
      auto cfg = small_config(v.size(), false);
      cfg.rope = rope;
      cfg.pin_decoded = false;
      auto w = apgen::nn::transformer_weights::random(cfg, 17, 0.3f);
      apgen::nn::transformer m(w);
      apgen::canvas c(v, {row.size(), row.size()});
      c.assign(0, row);
      c.assign(1, reversed);
      apgen::denoiser_output out;
      out.reshape(c, m.heads());
      m.predict(c, apgen::step_context{}, out);
      apgen::nn::row_tape<double> tape;
      apgen::nn::forward_row(w.cast<double>(), std::span<const int>(row), {}, tape);
      double mirror = 0, training = 0;
      for (std::size_t i = 0; i < row.size(); ++i)
        for (std::size_t k = 0; k < v.size(); ++k) {
          if (static_cast<int>(k) == v.mask()) continue;
          const double a = out.tokens(0).row(i)[k], b = out.tokens(1).row(row.size() - 1 - i)[k];
          mirror = std::max(mirror, std::abs(a - b) / (1 + std::abs(a)));
          const double ref = tape.logits(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(k));
          training = std::max(training, std::abs(a - ref) / (1 + std::abs(ref)));
        }
      CAPTURE(rope);
      CHECK(training < 1e-4); // both passes rotate, or neither does
      if (rope)
        CHECK(mirror > 1e-3); // rotary positions see the order (so the check below can fail)
      else
        CHECK(mirror < 1e-4);
    }
  }

  TEST_CASE("local attention: the banded inference pass equals the dense masked training pass") {
    // Rows longer than the 64-query blocks of the banded pass, so block edges and the window interact; the training
    // forward masks a dense L x L score matrix instead, in double.
    const auto v = make_vocab(9);
    for (bool causal : {false, true}) {
      auto cfg = small_config(v.size(), causal);
      cfg.attention_window = 5;
      cfg.pin_decoded = false;
      cfg.control_heads = true;
      auto w = apgen::nn::transformer_weights::random(cfg, 31, 0.3f);
      apgen::nn::transformer m(w);
      std::mt19937 rng(3);
      apgen::canvas c(v, {150, 97, 3});
      std::vector<std::vector<int>> rows;
      for (std::size_t len : {150u, 97u, 3u}) {
        std::vector<int> t(len);
        for (auto& x : t) x = static_cast<int>(rng() % v.size());
        rows.push_back(t);
      }
      for (std::size_t r = 0; r < rows.size(); ++r) c.assign(r, rows[r]);
      apgen::denoiser_output out;
      out.reshape(c, m.heads());
      m.predict(c, apgen::step_context{}, out);
      const auto wd = w.cast<double>();
      for (std::size_t r = 0; r < rows.size(); ++r) {
        apgen::nn::row_tape<double> tape;
        apgen::nn::forward_row(wd, std::span<const int>(rows[r]), {}, tape);
        double worst = 0;
        for (std::size_t i = 0; i < rows[r].size(); ++i) {
          for (std::size_t k = 0; k < v.size() && !(causal && i == 0); ++k) {
            if (static_cast<int>(k) == v.mask()) continue;
            // A causal model's position i reports the next-token prediction of position i - 1.
            const double ref = tape.logits(static_cast<Eigen::Index>(causal ? i - 1 : i), static_cast<Eigen::Index>(k));
            worst = std::max(worst, std::abs(out.tokens(r).row(i)[k] - ref) / (1 + std::abs(ref)));
          }
          for (std::size_t k = 0; k < 3; ++k) {
            const double ref = tape.controls(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(k));
            worst = std::max(worst, std::abs(out.controls(r).row(i)[k] - ref) / (1 + std::abs(ref)));
          }
        }
        CAPTURE(causal);
        CAPTURE(r);
        CHECK(worst < 1e-4);
      }
    }
  }

  TEST_CASE("local attention: a position sees only n_layers * window positions either side") {
    const auto v = make_vocab(9);
    auto cfg = small_config(v.size(), false);
    cfg.attention_window = 3;
    cfg.pin_decoded = false;
    apgen::nn::transformer m(apgen::nn::transformer_weights::random(cfg, 8, 0.3f));
    std::vector<int> base(200);
    std::mt19937 rng(9);
    for (auto& x : base) x = 1 + static_cast<int>(rng() % 8);
    auto run = [&](const std::vector<int>& t) {
      apgen::canvas c(v, 1, t.size());
      c.assign(0, t);
      return logits_of(m, c)[0];
    };
    const auto before = run(base);
    CHECK(run(base) == before); // deterministic, so any difference below comes from the change
    auto changed = base;
    const std::size_t at = 100, reach = cfg.n_layers * cfg.attention_window, V = v.size();
    changed[at] = changed[at] % 8 + 1;
    const auto after = run(changed);
    for (std::size_t i = 0; i < base.size(); ++i) {
      bool same = true;
      for (std::size_t k = 0; k < V; ++k) same = same && before[i * V + k] == after[i * V + k];
      CAPTURE(i);
      const std::size_t dist = i > at ? i - at : at - i;
      if (dist > reach) CHECK(same);
      if (dist <= reach) CHECK_FALSE(same);
    }
  }

} // TEST_SUITE

// ---- Agreement with the PyTorch reference (fixtures from tools/reference_transformer.py) ----
#include <apgen/nn/checkpoint.hpp>

#include <cstdio>

namespace {
std::string fixture(const std::string& name) {
  return std::string(APGEN_TEST_DATA_DIR) + "/transformer/" + name;
}

// Runs the ragged batch of a case file through the C++ model and returns the worst relative error.
double worst_error(const std::string& model, const std::string& weights_file, const std::string& case_file) {
  auto w = apgen::nn::load_transformer(fixture(weights_file));
  const auto cfg = w.config;
  apgen::nn::transformer m(std::move(w));
  const auto cs = apgen::io::safetensors_file::read(fixture(case_file));
  std::vector<std::string> symbols;
  for (std::size_t i = 1; i < cfg.vocab_size; ++i) symbols.push_back("s" + std::to_string(i));
  apgen::vocabulary v(symbols);
  apgen::canvas c(v, 3, 16);
  for (std::size_t r = 0; r < 3; ++r) {
    const auto& t = cs.get("tokens." + std::to_string(r));
    std::vector<int> ids(t.data.begin(), t.data.end());
    c.assign(r, ids);
  }
  // The fixtures' feature rule, as a task encoder: feature k of position i is (i (k + 3) + 1) mod 5.
  struct fixture_encoder {
    std::vector<std::size_t> sizes;
    apgen::feature_schema schema() const { return {.feature_vocab_sizes = sizes}; }
    void encode(std::span<const int> row, apgen::row_encoding& out) const {
      out.features.assign(sizes.size(), {});
      for (std::size_t k = 0; k < sizes.size(); ++k)
        for (std::size_t i = 0; i < row.size(); ++i) out.features[k].push_back(static_cast<int>((i * (k + 3) + 1) % 5));
    }
  };
  const apgen::row_encoder encoder = cfg.feature_vocab_sizes.empty()
                                         ? apgen::row_encoder{}
                                         : apgen::row_encoder(fixture_encoder{cfg.feature_vocab_sizes});
  const auto encodings = encoder.empty() ? std::vector<apgen::row_encoding>{} : apgen::encode_rows(encoder, c);
  apgen::step_context ctx;
  ctx.encodings = encodings;
  ctx.schema = encoder.empty() ? nullptr : &encoder.schema();
  apgen::denoiser_output out;
  out.reshape(c, m.heads());
  m.predict(c, ctx, out);
  double worst = 0;
  for (std::size_t r = 0; r < 3; ++r) {
    const auto& e = cs.get("expected.tokens." + std::to_string(r), {c.length(r), cfg.vocab_size});
    auto t = out.tokens(r);
    // The reference reports each position's head output; a causal denoiser reports position i's prediction from
    // position i - 1 (next-token head), and uniform logits at position 0.
    const std::size_t lag = cfg.causal ? cfg.vocab_size : 0;
    for (std::size_t k = 0; k < cfg.vocab_size && lag; ++k)
      CHECK(t.data()[k] == (static_cast<int>(k) == cfg.mask_id ? -INFINITY : 0.0f));
    for (std::size_t k = lag; k < e.data.size(); ++k) {
      const float got = t.data()[k], want = e.data[k - lag];
      if (std::isinf(want)) {
        CHECK(got == want);
        continue;
      }
      worst = std::max(worst, std::abs(static_cast<double>(got) - want) / (1.0 + std::abs(static_cast<double>(want))));
    }
    if (cfg.control_heads) {
      const auto& ec = cs.get("expected.controls." + std::to_string(r), {c.length(r), 3});
      auto ctl = out.controls(r);
      for (std::size_t k = 0; k < ec.data.size(); ++k)
        worst = std::max(worst, std::abs(static_cast<double>(ctl.data()[k]) - ec.data[k]) /
                                    (1.0 + std::abs(static_cast<double>(ec.data[k]))));
    }
  }
  MESSAGE(model << ": worst relative error vs PyTorch " << worst);
  return worst;
}
} // namespace

TEST_SUITE("transformer") {

  TEST_CASE("agrees with the PyTorch reference: bidirectional GELU with a feature embedding and pinning") {
    CHECK(worst_error("bidir_gelu", "bidir_gelu.weights.safetensors", "bidir_gelu.case.safetensors") < 1e-4);
  }
  TEST_CASE("agrees with the PyTorch reference: causal SwiGLU") {
    CHECK(worst_error("causal_swiglu", "causal_swiglu.weights.safetensors", "causal_swiglu.case.safetensors") < 1e-4);
  }
  TEST_CASE("agrees with the PyTorch reference: bidirectional without pinning") {
    CHECK(worst_error("bidir_nopin", "bidir_nopin.weights.safetensors", "bidir_nopin.case.safetensors") < 1e-4);
  }
  TEST_CASE("agrees with the PyTorch reference: BF16 weights widened on load") {
    CHECK(worst_error("bidir_gelu bf16", "bidir_gelu.weights.bf16.safetensors", "bidir_gelu.case.bf16.safetensors") <
          1e-4);
  }

  TEST_CASE("save then load gives the same model, in F32 exactly and in BF16 within rounding") {
    const apgen::nn::transformer_config cfg{
        .vocab_size = 9, .d_model = 16, .n_layers = 1, .n_heads = 2, .d_ff = 24, .act = apgen::nn::activation::swiglu};
    auto w = apgen::nn::transformer_weights::random(cfg, 5, 0.1f);
    const std::string path = "apgen_test_checkpoint.safetensors";
    apgen::nn::save_transformer(path, w, apgen::io::dtype::f32, {{"step", "12"}});
    auto back = apgen::nn::load_transformer(path);
    CHECK(back.config.to_metadata() == cfg.to_metadata());
    CHECK(back.layers[0].gate_w == w.layers[0].gate_w);
    CHECK(back.ctl_b == w.ctl_b);
    apgen::nn::save_transformer(path, w, apgen::io::dtype::bf16);
    auto half = apgen::nn::load_transformer(path);
    CHECK((half.head_w - w.head_w).cwiseAbs().maxCoeff() <= 0.004f * w.head_w.cwiseAbs().maxCoeff());
    std::remove(path.c_str());
  }

  TEST_CASE("a weight file for another model is refused, naming the tensor") {
    const apgen::nn::transformer_config cfg{.vocab_size = 9, .d_model = 16, .n_layers = 1, .n_heads = 2, .d_ff = 24};
    auto w = apgen::nn::transformer_weights::random(cfg, 5);
    const std::string path = "apgen_test_bad_checkpoint.safetensors";
    // A tensor of the wrong shape under a model's name.
    auto meta = cfg.to_metadata();
    std::vector<float> junk(16 * 5, 0.f);
    apgen::io::write_safetensors(path, {{"embed.tokens.weight", {5, 16}, junk}}, meta);
    CHECK_THROWS_AS((void)apgen::nn::load_transformer(path), apgen::shape_mismatch);
    // A missing tensor.
    std::vector<float> ok(9 * 16, 0.f);
    apgen::io::write_safetensors(path, {{"embed.tokens.weight", {9, 16}, ok}}, meta);
    CHECK_THROWS_WITH((void)apgen::nn::load_transformer(path), doctest::Contains("layers.0.norm1.weight"));
    // Metadata that is not a transformer's.
    apgen::io::write_safetensors(path, {{"embed.tokens.weight", {9, 16}, ok}}, {{"format", "pt"}});
    CHECK_THROWS_WITH_AS((void)apgen::nn::load_transformer(path), doctest::Contains("apgen.format"),
                         apgen::parse_error);
    std::remove(path.c_str());
  }

  TEST_CASE("metadata that declares a huge model fails at once, before allocating anything") {
    // A file of a few KB whose metadata asks for a million (or a hundred million) layers, or dimensions of billions:
    // it used to allocate gigabytes from the metadata (or let std::bad_alloc escape) before a tensor was checked.
    const apgen::nn::transformer_config cfg{.vocab_size = 9, .d_model = 16, .n_layers = 1, .n_heads = 2, .d_ff = 24};
    auto w = apgen::nn::transformer_weights::random(cfg, 5);
    const auto views = apgen::nn::views_of(w);
    CHECK(views.views.size() == apgen::nn::transformer_weights::tensor_count(cfg));
    auto swiglu = cfg;
    swiglu.act = apgen::nn::activation::swiglu;
    swiglu.feature_vocab_sizes = {4, 5};
    auto w2 = apgen::nn::transformer_weights::random(swiglu, 1);
    CHECK(apgen::nn::views_of(w2).views.size() == apgen::nn::transformer_weights::tensor_count(swiglu));
    for (const auto& [key, value] :
         std::vector<std::pair<std::string, std::string>>{{"n_layers", "1000000"},
                                                          {"n_layers", "100000000"},
                                                          {"n_layers", "18446744073709551615"},
                                                          {"d_model", "1000000000000"},
                                                          {"d_ff", "4000000000"},
                                                          {"vocab_size", "2000000000"}}) {
      CAPTURE(key);
      CAPTURE(value);
      auto meta = cfg.to_metadata();
      meta[key] = value;
      if (key == "d_model") meta["n_heads"] = "1";
      const auto bytes = apgen::io::serialize_safetensors(std::span<const apgen::io::tensor_view>(views.views), meta);
      const auto file = apgen::io::safetensors_file::parse(bytes, "huge.safetensors");
      CHECK_THROWS_AS((void)apgen::nn::load_transformer(file, "huge.safetensors"), apgen::error);
    }
    auto meta = cfg.to_metadata();
    meta["n_layers"] = "1000000";
    const auto bytes = apgen::io::serialize_safetensors(std::span<const apgen::io::tensor_view>(views.views), meta);
    CHECK_THROWS_WITH_AS(
        (void)apgen::nn::load_transformer(apgen::io::safetensors_file::parse(bytes, "f"), "f"),
        doctest::Contains(
            "no tensor named \"layers.1.norm1.weight\"; the metadata describes a model of 12000007 tensors"),
        apgen::shape_mismatch);
  }

  TEST_CASE("metadata numbers are read strictly") {
    const auto cfg = small_config(8, false);
    const auto refused = [&](const char* key, const char* value) {
      auto m = cfg.to_metadata();
      m[key] = value;
      CAPTURE(key);
      CAPTURE(value);
      CHECK_THROWS_WITH_AS(static_cast<void>(apgen::nn::transformer_config::from_metadata(m)), doctest::Contains(key),
                           apgen::parse_error);
    };
    refused("mask_id", "4294967296"); // loaded as 0
    refused("mask_id", "2147483648"); // reported as -2147483648
    refused("vocab_size", "+6");
    refused("vocab_size", " 6");
    refused("vocab_size", "6 ");
    refused("vocab_size", "0x10");
    refused("vocab_size", "99999999999999999999999");
    refused("norm_eps", "inf");
    refused("norm_eps", "nan");
    refused("norm_eps", "1e400");
    refused("norm_eps", " 1e-5");
    refused("rope_base", "inf");
    refused("feature_vocab_sizes", "3,");
    refused("feature_vocab_sizes", ",3");
    refused("feature_vocab_sizes", "3,,4");
    refused("feature_vocab_sizes", "3, 4");
    refused("feature_vocab_sizes", "-3");
    refused("n_layers", "");
    auto m = cfg.to_metadata();
    m["feature_vocab_sizes"] = "3,17";
    CHECK(apgen::nn::transformer_config::from_metadata(m).feature_vocab_sizes == std::vector<std::size_t>{3, 17});
    m["norm_eps"] = "1e-6";
    CHECK(apgen::nn::transformer_config::from_metadata(m).norm_eps == doctest::Approx(1e-6));
  }

  TEST_CASE("reading a directory as weights says so") {
    CHECK_THROWS_WITH_AS((void)apgen::nn::load_transformer(std::string(APGEN_TEST_DATA_DIR)),
                         doctest::Contains("is a directory"), apgen::parse_error);
  }

} // TEST_SUITE
