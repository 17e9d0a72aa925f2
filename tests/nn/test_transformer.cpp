// The transformer denoiser inside the engine: rows are independent of their batch, ARM with the KV cache decodes
// exactly as ARM by full re-encode, SUBS holds, and bad configurations and inputs are refused by name.
#include <apgen/apgen.hpp>
#include <apgen/nn/transformer.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

namespace {

apgen::vocabulary make_vocab(std::size_t symbols) {
  std::vector<std::string> s;
  for (std::size_t i = 0; i < symbols; ++i) s.push_back("t" + std::to_string(i));
  return apgen::vocabulary(s, {"[MASK]", "", "", "[EOS]"});
}

apgen::nn::transformer_config small_config(std::size_t V, bool causal) {
  apgen::nn::transformer_config c;
  c.vocab_size = V;
  c.d_model = 32;
  c.n_layers = 2;
  c.n_heads = 4;
  c.d_ff = 64;
  c.causal = causal;
  c.control_heads = !causal;
  return c;
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

} // namespace

TEST_SUITE("transformer") {

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
    check_close(logits_of(m, alone)[0], together[r], 1e-5f);
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
      for (std::size_t j = 0; j < v.size(); ++j) CHECK(t(i, j) == (static_cast<int>(j) == c.row(0)[i] ? 0.0f : -INFINITY));
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
      auto g1 = apgen::make_generator<apgen::edits::arm_append>(std::move(cached), apgen::schedules::autoregressive<apgen::sampling::temperature>(apgen::sampling::temperature(1.0)), opt);
      auto g2 = apgen::make_generator<apgen::edits::arm_append>(std::move(full), apgen::schedules::autoregressive<apgen::sampling::temperature>(apgen::sampling::temperature(1.0)), opt);
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

TEST_CASE("bad configurations and inputs are refused by name") {
  auto cfg = small_config(8, false);
  cfg.n_heads = 5;
  CHECK_THROWS_WITH_AS(cfg.validate(), doctest::Contains("not a multiple of n_heads"), apgen::invalid_argument);
  cfg = small_config(8, false);
  cfg.mask_id = 9;
  CHECK_THROWS_WITH_AS(cfg.validate(), doctest::Contains("mask_id"), apgen::invalid_argument);
  cfg = small_config(8, false);
  cfg.feature_vocab_sizes = {3};
  CHECK_THROWS_WITH_AS(apgen::nn::transformer(apgen::nn::transformer_weights::random(cfg, 1)), doctest::Contains("feature"),
                       apgen::invalid_argument);
  apgen::nn::transformer bad_features(apgen::nn::transformer_weights::random(cfg, 1),
                                      {.features = [](std::span<const int>, std::size_t i, std::size_t) { return static_cast<int>(i); }});
  const auto v = make_vocab(6);
  apgen::canvas c(v, 1, 8);
  c.assign(0, {1, 2, 3, 4});
  apgen::denoiser_output out;
  out.reshape(c, bad_features.heads());
  CHECK_THROWS_WITH_AS(bad_features.predict(c, {}, out), doctest::Contains("feature 0 of row 0, position 3"), apgen::invalid_token);
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
  CHECK_THROWS_WITH_AS(apgen::nn::transformer_config::from_metadata(m), doctest::Contains("d_model"), apgen::parse_error);
  m = cfg.to_metadata();
  m["n_heads"] = "four";
  CHECK_THROWS_WITH_AS(apgen::nn::transformer_config::from_metadata(m), doctest::Contains("n_heads"), apgen::parse_error);
  m = cfg.to_metadata();
  m["activation"] = "relu";
  CHECK_THROWS_AS(apgen::nn::transformer_config::from_metadata(m), apgen::parse_error);
}

} // TEST_SUITE
