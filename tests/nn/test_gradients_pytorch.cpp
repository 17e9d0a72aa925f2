// Training gradients against PyTorch: the loss of a ragged batch (rows of lengths 7, 1 and 12, MASK inputs, token
// targets at some MASK positions, random control labels) and the gradient of every parameter, as computed by
// train::batch_gradient, against torch.autograd in float64 (fixtures written by
// `tools/reference_transformer.py generate-grad-fixtures`): a bidirectional GELU model with a feature embedding and
// a causal SwiGLU model, both with control heads, in float and in double.
#include <apgen/io/safetensors.hpp>
#include <apgen/nn/checkpoint.hpp>
#include <apgen/train/batch_gradient.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::string grad_fixture(const std::string& name) {
  return std::string(APGEN_TEST_DATA_DIR) + "/transformer/" + name;
}

double relative_error(double got, double want) {
  return std::abs(got - want) / (1.0 + std::abs(want));
}

// The batch of a case file as training examples (features by the fixtures' rule, weights 1.0 and 0.7).
std::vector<apgen::train::example> examples_of(const apgen::io::safetensors_file& cs,
                                               const apgen::nn::transformer_config& cfg) {
  const std::size_t rows = std::stoul(cs.metadata().at("rows"));
  const double token_weight = std::stod(cs.metadata().at("token_weight"));
  const double control_weight = std::stod(cs.metadata().at("control_weight"));
  std::vector<apgen::train::example> batch;
  for (std::size_t r = 0; r < rows; ++r) {
    const std::string s = "." + std::to_string(r);
    apgen::train::example e;
    const auto& tokens = cs.get("tokens" + s).data;
    const std::size_t L = tokens.size();
    for (float t : tokens) e.input.push_back(static_cast<int>(t));
    for (float t : cs.get("targets" + s, {L}).data) e.targets.push_back(static_cast<int>(t));
    for (float t : cs.get("remask" + s, {L}).data) e.remask.push_back(static_cast<std::uint8_t>(t));
    for (float t : cs.get("insert" + s, {L}).data) e.insert.push_back(static_cast<std::uint8_t>(t));
    for (float t : cs.get("delete" + s, {L}).data) e.erase.push_back(static_cast<std::uint8_t>(t));
    e.features.resize(cfg.feature_vocab_sizes.size());
    for (std::size_t k = 0; k < e.features.size(); ++k)
      for (std::size_t i = 0; i < L; ++i)
        e.features[k].push_back(static_cast<int>((i * (k + 3) + 1) % cfg.feature_vocab_sizes[k]));
    e.token_weight = token_weight;
    e.control_weight = control_weight;
    batch.push_back(std::move(e));
  }
  return batch;
}

// Worst relative error of the batch loss, the per-row losses and every parameter gradient against the fixture.
template <class Scalar>
double worst_gradient_error(const std::string& model) {
  auto wf = apgen::nn::load_transformer(grad_fixture("grad_" + model + ".weights.safetensors"));
  auto w = wf.template cast<Scalar>();
  const auto cs = apgen::io::safetensors_file::read(grad_fixture("grad_" + model + ".case.safetensors"));
  const auto batch = examples_of(cs, w.config);
  REQUIRE(batch.size() == 3);

  apgen::train::batch_gradient<Scalar> bg;
  apgen::nn::basic_transformer_weights<Scalar> grad(w.config);
  const auto loss = bg.compute(w, batch, grad);
  double worst_loss = relative_error(loss.total, std::stod(cs.metadata().at("loss")));

  // The rows one by one, unscaled: each row's total against PyTorch's.
  std::vector<double> row_losses;
  {
    std::stringstream in(cs.metadata().at("row_losses"));
    for (std::string item; std::getline(in, item, ',');) row_losses.push_back(std::stod(item));
  }
  REQUIRE(row_losses.size() == batch.size());
  for (std::size_t r = 0; r < batch.size(); ++r) {
    apgen::nn::row_tape<Scalar> tape;
    apgen::nn::forward_row(w, std::span<const int>(batch[r].input), batch[r].features, tape);
    apgen::nn::basic_matrix<Scalar> dl, dc;
    const auto l = apgen::train::row_loss_and_grad(w.config, tape, batch[r].supervision(),
                                                   {batch[r].token_weight, batch[r].control_weight}, dl, dc);
    worst_loss = std::max(worst_loss, relative_error(l.total, row_losses[r]));
  }

  double worst_grad = 0;
  std::string worst_name;
  std::size_t tensors = 0;
  grad.for_each_tensor([&](const std::string& name, auto& t, std::size_t, std::size_t, apgen::nn::init_kind) {
    const auto& want = cs.get("grad." + name);
    REQUIRE(want.data.size() == static_cast<std::size_t>(t.size()));
    ++tensors;
    for (Eigen::Index i = 0; i < t.size(); ++i) {
      const double e =
          relative_error(static_cast<double>(t.data()[i]), static_cast<double>(want.data[static_cast<std::size_t>(i)]));
      if (e > worst_grad) {
        worst_grad = e;
        worst_name = name;
      }
    }
  });
  std::size_t fixture_grads = 0; // every grad.* tensor of the fixture is one of ours
  for (const auto& n : cs.names())
    if (n.rfind("grad.", 0) == 0) ++fixture_grads;
  CHECK(fixture_grads == tensors);
  std::ostringstream msg;
  msg.precision(15);
  msg << model << " (" << (sizeof(Scalar) == 4 ? std::string("float") : std::string("double")) << "): loss "
      << loss.total << " vs PyTorch " << cs.metadata().at("loss");
  msg.precision(3);
  msg << ", worst relative error: loss " << worst_loss << ", gradients " << worst_grad << " (" << worst_name << ", "
      << tensors << " tensors)";
  MESSAGE(msg.str());
  return std::max(worst_loss, worst_grad);
}

} // namespace

TEST_SUITE("transformer") {

  TEST_CASE("training gradients agree with PyTorch: bidirectional GELU with a feature embedding, in float") {
    CHECK(worst_gradient_error<float>("bidir_gelu") < 1e-4);
  }
  TEST_CASE("training gradients agree with PyTorch: bidirectional GELU with a feature embedding, in double") {
    CHECK(worst_gradient_error<double>("bidir_gelu") < 1e-5);
  }
  TEST_CASE("training gradients agree with PyTorch: causal SwiGLU with control heads, in float") {
    CHECK(worst_gradient_error<float>("causal_swiglu") < 1e-4);
  }
  TEST_CASE("training gradients agree with PyTorch: causal SwiGLU with control heads, in double") {
    CHECK(worst_gradient_error<double>("causal_swiglu") < 1e-5);
  }
}
