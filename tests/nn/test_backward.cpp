// Gradients of the training forward/backward: every parameter's analytic gradient against central finite
// differences in double precision, for bidirectional and causal models, GELU and SwiGLU, with a feature embedding;
// and the float pass against the double one.
#include <apgen/nn/backward.hpp>
#include <apgen/train/loss.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace {

apgen::nn::transformer_config tiny(bool causal, apgen::nn::activation act) {
  return {.vocab_size = 7,
          .d_model = 8,
          .n_layers = 2,
          .n_heads = 2,
          .d_ff = 12,
          .feature_vocab_sizes = {4},
          .act = act,
          .causal = causal,
          .control_heads = true};
}

struct example {
  std::vector<int> tokens{3, 0, 5, 0, 2, 6};
  std::vector<std::vector<int>> features{{0, 1, 2, 3, 0, 1}};
  std::vector<int> targets{-1, 4, -1, 1, -1, -1};
  std::vector<std::uint8_t> remask{0, 1, 0, 0, 1, 0}, insert{1, 0, 0, 0, 0, 1}, erase{0, 0, 0, 1, 0, 0};
  apgen::train::row_targets y() const { return {targets, remask, insert, erase}; }
};

template <class Scalar>
double loss_of(const apgen::nn::basic_transformer_weights<Scalar>& w, const example& e) {
  apgen::nn::row_tape<Scalar> t;
  apgen::nn::forward_row(w, std::span<const int>(e.tokens), e.features, t);
  apgen::nn::basic_matrix<Scalar> dl, dc;
  return apgen::train::row_loss_and_grad(w.config, t, e.y(), {1.0, 0.7}, dl, dc).total;
}

// Worst relative error of analytic vs central-difference gradients over every parameter.
double worst_gradient_error(apgen::nn::transformer_config cfg) {
  auto wf = apgen::nn::transformer_weights::random(cfg, 11, 0.3f);
  auto w = wf.cast<double>();
  // Non-trivial norms and biases, so their gradients are checked at a generic point.
  std::mt19937 rng(5);
  std::normal_distribution<double> nd(0.0, 0.1);
  w.for_each_tensor([&](const std::string& name, auto& t, std::size_t, std::size_t, apgen::nn::init_kind) {
    if (name.find("norm") != std::string::npos || name.ends_with(".bias"))
      for (Eigen::Index i = 0; i < t.size(); ++i) t.data()[i] += nd(rng);
  });
  const example e;
  apgen::nn::row_tape<double> tape;
  apgen::nn::forward_row(w, std::span<const int>(e.tokens), e.features, tape);
  apgen::nn::basic_matrix<double> dl, dc;
  apgen::train::row_loss_and_grad(w.config, tape, e.y(), {1.0, 0.7}, dl, dc);
  auto g = w;
  g.set_zero();
  apgen::nn::backward_row(w, tape, dl, dc, g);
  std::vector<double*> grads;
  g.for_each_tensor(
      [&](const std::string&, auto& t, std::size_t, std::size_t, apgen::nn::init_kind) { grads.push_back(t.data()); });
  double worst = 0;
  std::size_t tensor = 0, checked = 0;
  w.for_each_tensor([&](const std::string& name, auto& t, std::size_t, std::size_t, apgen::nn::init_kind) {
    for (Eigen::Index i = 0; i < t.size(); ++i) {
      const double keep = t.data()[i], h = 1e-6;
      t.data()[i] = keep + h;
      const double up = loss_of(w, e);
      t.data()[i] = keep - h;
      const double down = loss_of(w, e);
      t.data()[i] = keep;
      const double numeric = (up - down) / (2 * h), analytic = grads[tensor][i];
      const double err = std::abs(numeric - analytic) / std::max(1e-3, std::abs(numeric) + std::abs(analytic));
      if (err > worst) {
        worst = err;
        if (err > 1e-5) MESSAGE(name << "[" << i << "]: analytic " << analytic << ", numeric " << numeric);
      }
      ++checked;
    }
    ++tensor;
  });
  MESSAGE("checked " << checked << " parameters, worst relative error " << worst);
  return worst;
}

} // namespace

TEST_SUITE("backward") {

  TEST_CASE("gradients match finite differences: bidirectional, GELU") {
    CHECK(worst_gradient_error(tiny(false, apgen::nn::activation::gelu)) < 1e-6);
  }
  TEST_CASE("gradients match finite differences: causal, SwiGLU") {
    CHECK(worst_gradient_error(tiny(true, apgen::nn::activation::swiglu)) < 1e-6);
  }

  TEST_CASE("gradients match finite differences: local attention window") {
    auto bidir = tiny(false, apgen::nn::activation::gelu);
    bidir.attention_window = 1; // the 6-token example has keys outside every query's window
    CHECK(worst_gradient_error(bidir) < 1e-6);
    auto causal = tiny(true, apgen::nn::activation::swiglu);
    causal.attention_window = 2;
    CHECK(worst_gradient_error(causal) < 1e-6);
  }

  TEST_CASE("gradients match finite differences: no rotary positions") {
    auto c = tiny(false, apgen::nn::activation::gelu);
    c.rope = false;
    CHECK(worst_gradient_error(c) < 1e-6);
  }

  TEST_CASE("the float pass agrees with the double pass") {
    auto wf = apgen::nn::transformer_weights::random(tiny(false, apgen::nn::activation::gelu), 3, 0.3f);
    auto wd = wf.cast<double>();
    const example e;
    apgen::nn::row_tape<float> tf;
    apgen::nn::row_tape<double> td;
    apgen::nn::forward_row(wf, std::span<const int>(e.tokens), e.features, tf);
    apgen::nn::forward_row(wd, std::span<const int>(e.tokens), e.features, td);
    apgen::nn::basic_matrix<float> dlf, dcf;
    apgen::nn::basic_matrix<double> dld, dcd;
    const auto lf = apgen::train::row_loss_and_grad(wf.config, tf, e.y(), {}, dlf, dcf);
    const auto ld = apgen::train::row_loss_and_grad(wd.config, td, e.y(), {}, dld, dcd);
    CHECK(lf.total == doctest::Approx(ld.total).epsilon(1e-5));
    auto gf = wf;
    gf.set_zero();
    auto gd = wd;
    gd.set_zero();
    apgen::nn::backward_row(wf, tf, dlf, dcf, gf);
    apgen::nn::backward_row(wd, td, dld, dcd, gd);
    CHECK((gf.layers[0].qkv_w.cast<double>() - gd.layers[0].qkv_w).cwiseAbs().maxCoeff() <
          1e-4 * (1 + gd.layers[0].qkv_w.cwiseAbs().maxCoeff()));
    CHECK((gf.tok_embed.cast<double>() - gd.tok_embed).cwiseAbs().maxCoeff() <
          1e-4 * (1 + gd.tok_embed.cwiseAbs().maxCoeff()));
  }

  TEST_CASE("bad supervision is refused by name") {
    auto w = apgen::nn::transformer_weights::random(tiny(false, apgen::nn::activation::gelu), 3);
    const example e;
    apgen::nn::row_tape<float> t;
    apgen::nn::forward_row(w, std::span<const int>(e.tokens), e.features, t);
    apgen::nn::basic_matrix<float> dl, dc;
    std::vector<int> short_targets{1, 2};
    CHECK_THROWS_AS(
        apgen::train::row_loss_and_grad(w.config, t, {short_targets, e.remask, e.insert, e.erase}, {}, dl, dc),
        apgen::shape_mismatch);
    std::vector<int> mask_target{-1, 0, -1, -1, -1, -1};
    CHECK_THROWS_WITH_AS(
        apgen::train::row_loss_and_grad(w.config, t, {mask_target, e.remask, e.insert, e.erase}, {}, dl, dc),
        doctest::Contains("position 1"), apgen::invalid_token);
    std::vector<int> bad_tokens{3, 9};
    CHECK_THROWS_AS(apgen::nn::forward_row(w, std::span<const int>(bad_tokens), {{0, 1}}, t), apgen::invalid_token);
  }

} // TEST_SUITE
