// The process loss's per-position control weights: the control loss becomes the weighted mean of the positions'
// BCE terms, each position's control gradient scales by its weight (zero at weight 0), the token loss does not
// move, and weights of the wrong length or that are negative or NaN are refused.
#include <apgen/apgen.hpp>
#include <apgen/nn/training_forward.hpp>
#include <apgen/train/loss.hpp>
#include <apgen/train/objectives.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace {

double bce(double x, double label) {
  return std::max(x, 0.0) - x * label + std::log1p(std::exp(-std::abs(x)));
}

} // namespace

TEST_CASE("loss: per-position control weights weigh each position's BCE terms and gradients") {
  apgen::nn::transformer_config cfg{.vocab_size = 6, .d_model = 16, .n_layers = 1, .n_heads = 2, .d_ff = 24};
  const auto weights = apgen::nn::basic_transformer_weights<double>::random(cfg, 3, 0.5);
  const std::vector<apgen::token_id> x{1, 0, 2, 0, 3};
  const std::vector<apgen::token_id> targets{-1, 4, -1, 5, -1};
  const std::vector<std::uint8_t> remask{0, 0, 1, 1, 0}, insert{1, 0, 0, 0, 1}, erase{0, 0, 0, 0, 0};
  const std::vector<float> w{1.0f, 3.0f, 0.0f, 0.5f, 2.0f};
  apgen::nn::row_tape<double> tape;
  apgen::nn::forward_row(weights, std::span<const apgen::token_id>(x), {}, tape);
  apgen::nn::basic_matrix<double> dl0, dc0, dl1, dc1;
  apgen::train::row_targets y{.tokens = targets, .remask = remask, .insert = insert, .erase = erase};
  const auto plain = apgen::train::row_loss_and_grad(cfg, tape, y, {}, dl0, dc0);
  y.control_weights = w;
  const auto weighted = apgen::train::row_loss_and_grad(cfg, tape, y, {}, dl1, dc1);

  double expected = 0;
  const std::vector<std::uint8_t>* labels[3] = {&remask, &insert, &erase};
  for (std::size_t k = 0; k < 3; ++k)
    for (std::size_t i = 0; i < x.size(); ++i)
      expected += w[i] *
                  bce(tape.controls(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(k)), (*labels[k])[i]) /
                  static_cast<double>(x.size());
  CHECK(weighted.remask + weighted.insert + weighted.erase == doctest::Approx(expected).epsilon(1e-12));
  CHECK(weighted.token == doctest::Approx(plain.token).epsilon(1e-15));
  for (Eigen::Index i = 0; i < static_cast<Eigen::Index>(x.size()); ++i)
    for (Eigen::Index k = 0; k < 3; ++k)
      CHECK(dc1(i, k) == doctest::Approx(w[static_cast<std::size_t>(i)] * dc0(i, k)).epsilon(1e-12));
  CHECK(dc1.row(2).isZero());
  CHECK(dl1.isApprox(dl0));

  const std::vector<float> short_weights{1.0f, 1.0f};
  y.control_weights = short_weights;
  CHECK_THROWS_WITH_AS((void)apgen::train::row_loss_and_grad(cfg, tape, y, {}, dl1, dc1),
                       doctest::Contains("2 control weights for 5 positions"), apgen::shape_mismatch);
  std::vector<float> bad = w;
  bad[1] = -1.0f;
  y.control_weights = bad;
  CHECK_THROWS_AS((void)apgen::train::row_loss_and_grad(cfg, tape, y, {}, dl1, dc1), apgen::invalid_argument);
  bad[1] = std::numeric_limits<float>::quiet_NaN();
  y.control_weights = bad;
  CHECK_THROWS_AS((void)apgen::train::row_loss_and_grad(cfg, tape, y, {}, dl1, dc1), apgen::invalid_argument);
}

TEST_CASE("loss: an example's control position weights reach the loss through supervision()") {
  apgen::train::example e;
  e.input = {1, 0};
  e.targets = {-1, 2};
  e.remask = {0, 1};
  e.insert = {0, 0};
  e.erase = {0, 0};
  e.control_position_weights = {1.0f, 4.0f};
  const auto y = e.supervision();
  REQUIRE(y.control_weights.size() == 2);
  CHECK(y.control_weights[1] == 4.0f);
}
