// The training loop: objectives build the right supervision, the loss goes down, runs are bit-for-bit
// reproducible, and a run resumed from a checkpoint ends exactly where an uninterrupted one does.
#include <apgen/train/trainer.hpp>

#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <vector>

namespace {

apgen::nn::transformer_config small(bool causal) {
  return {.vocab_size = 7, .d_model = 16, .n_layers = 1, .n_heads = 2, .d_ff = 32, .causal = causal};
}

std::vector<apgen::train::example> mdm_data(std::size_t n) {
  std::vector<apgen::train::example> d;
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<int> clean;
    for (int k = 0; k < 6 + static_cast<int>(i % 5); ++k) clean.push_back(1 + (k + static_cast<int>(i)) % 6);
    d.push_back(apgen::train::mdm_example(clean, 0, 42, i, true));
  }
  return d;
}

apgen::train::trainer_options options(std::uint64_t steps) {
  apgen::train::trainer_options o;
  o.steps = steps;
  o.batch_size = 6;
  o.seed = 9;
  o.schedule.base_lr = 3e-3;
  o.schedule.warmup_steps = 3;
  o.quiet = true;
  return o;
}

bool same_bits(apgen::nn::transformer_weights& a, apgen::nn::transformer_weights& b) {
  std::vector<const float*> pa;
  a.for_each_tensor(
      [&](const std::string&, auto& t, std::size_t, std::size_t, apgen::nn::init_kind) { pa.push_back(t.data()); });
  std::size_t k = 0;
  bool same = true;
  b.for_each_tensor([&](const std::string&, auto& t, std::size_t, std::size_t, apgen::nn::init_kind) {
    same = same && std::equal(t.data(), t.data() + t.size(), pa[k++]);
  });
  return same;
}

} // namespace

TEST_SUITE("trainer") {

  TEST_CASE("objectives: MDM masks and supervises, ARM shifts by one") {
    const std::vector<int> clean{1, 2, 3, 4, 5, 6, 1, 2};
    for (std::uint64_t i = 0; i < 50; ++i) {
      const auto e = apgen::train::mdm_example(clean, 0, 3, i, true);
      std::size_t masked = 0;
      for (std::size_t k = 0; k < clean.size(); ++k) {
        if (e.input[k] == 0) {
          ++masked;
          CHECK(e.targets[k] == clean[k]);
        } else {
          CHECK(e.input[k] == clean[k]);
          CHECK(e.targets[k] == -1);
        }
      }
      CHECK(masked >= 1);
      CHECK(e.token_weight >= 1.0);
      CHECK(e.control_weight == 0.0);
    }
    const std::vector<std::uint8_t> lock{1, 1, 0, 0, 0, 0, 0, 0};
    for (std::uint64_t i = 0; i < 20; ++i) {
      const auto e = apgen::train::mdm_example(clean, 0, 3, i, false, lock);
      CHECK(e.input[0] == 1);
      CHECK(e.input[1] == 2);
    }
    const auto a = apgen::train::arm_example(clean);
    CHECK(a.input == std::vector<int>(clean.begin(), clean.end() - 1));
    CHECK(a.targets == std::vector<int>(clean.begin() + 1, clean.end()));
    CHECK_THROWS_AS((void)apgen::train::arm_example(std::vector<int>{1}), apgen::invalid_argument);
  }

  TEST_CASE("the loss goes down on an MDM problem") {
    auto w = apgen::nn::transformer_weights::random(small(false), 1);
    apgen::train::trainer t(w, mdm_data(24), options(150));
    double first = 0, last = 0;
    t.on_step([&](const apgen::train::step_stats& s) {
      if (s.step <= 10) first += s.loss.total / 10;
      if (s.step > 140) last += s.loss.total / 10;
    });
    t.run();
    MESSAGE("mean loss over the first 10 steps " << first << ", over the last 10 " << last);
    CHECK(last < 0.6 * first);
  }

  TEST_CASE("the same seed and thread count give the same weights bit for bit") {
    auto a = apgen::nn::transformer_weights::random(small(false), 2);
    auto b = a;
    apgen::train::trainer ta(a, mdm_data(20), options(12));
    apgen::train::trainer tb(b, mdm_data(20), options(12));
    ta.run();
    tb.run();
    CHECK(same_bits(a, b));
  }

  TEST_CASE("a run resumed from a checkpoint ends exactly where an uninterrupted run does") {
    const std::string path = "apgen_test_trainer_checkpoint.safetensors";
    auto straight = apgen::nn::transformer_weights::random(small(true), 5);
    auto resumed = straight;
    auto data = mdm_data(17); // batches straddle epochs
    apgen::train::trainer full(straight, data, options(14));
    full.run();
    {
      apgen::train::trainer first(resumed, data, options(6));
      first.run();
      first.save_checkpoint(path);
    }
    auto other = apgen::nn::transformer_weights::random(small(true), 99); // overwritten by resume
    apgen::train::trainer second(other, data, options(14));
    second.resume(path);
    CHECK(second.step() == 6);
    second.run();
    CHECK(same_bits(straight, other));
    std::remove(path.c_str());
  }

  TEST_CASE("a batch source feeds the loop, and a run on it resumes bit for bit") {
    const std::string path = "apgen_test_trainer_checkpoint3.safetensors";
    // Batches made on the fly from the step number: example k of step s is MDM example 7 s + k of a fixed row set.
    const auto pool = mdm_data(40);
    std::uint64_t calls = 0;
    apgen::train::batch_source source = [&](std::uint64_t step, std::size_t size,
                                            std::vector<apgen::train::example>& batch) {
      ++calls;
      for (std::size_t k = 0; k < size; ++k) batch.push_back(pool[(7 * step + k) % pool.size()]);
    };
    auto straight = apgen::nn::transformer_weights::random(small(false), 6);
    auto resumed = straight;
    apgen::train::trainer full(straight, source, options(10));
    full.run();
    CHECK(calls == 10);
    {
      apgen::train::trainer first(resumed, source, options(4));
      first.run();
      first.save_checkpoint(path);
    }
    auto other = apgen::nn::transformer_weights::random(small(false), 98);
    apgen::train::trainer second(other, source, options(10));
    second.resume(path);
    CHECK(second.step() == 4);
    second.run();
    CHECK(same_bits(straight, other));
    std::remove(path.c_str());
    // A source that makes nothing is an error naming the step, and an empty source is refused at once.
    auto w = apgen::nn::transformer_weights::random(small(false), 6);
    apgen::train::trainer idle(w, apgen::train::batch_source([](std::uint64_t, std::size_t, auto&) {}), options(2));
    CHECK_THROWS_WITH_AS(idle.run(), "trainer: the batch source made no examples for step 0", apgen::invalid_argument);
    CHECK_THROWS_AS(apgen::train::trainer(w, apgen::train::batch_source{}, options(2)), apgen::invalid_argument);
  }

  TEST_CASE("a checkpoint from another data set is refused") {
    const std::string path = "apgen_test_trainer_checkpoint2.safetensors";
    auto w = apgen::nn::transformer_weights::random(small(false), 5);
    apgen::train::trainer t(w, mdm_data(10), options(2));
    t.run();
    t.save_checkpoint(path);
    apgen::train::trainer u(w, mdm_data(11), options(2));
    CHECK_THROWS_WITH_AS(u.resume(path), doctest::Contains("another seed or data set"), apgen::invalid_argument);
    std::remove(path.c_str());
  }

  TEST_CASE("the batch gradient is the mean of the per-example gradients") {
    auto w = apgen::nn::transformer_weights::random(small(false), 8, 0.2f);
    const auto data = mdm_data(5);
    apgen::train::batch_gradient<float> bg;
    auto g = w;
    const auto loss = bg.compute(w, data, g);
    auto sum = w;
    sum.set_zero();
    double total = 0;
    for (const auto& e : data) {
      apgen::nn::row_tape<float> tape;
      apgen::nn::forward_row(w, std::span<const int>(e.input), e.features, tape);
      apgen::nn::basic_matrix<float> dl, dc;
      total += apgen::train::row_loss_and_grad(w.config, tape, e.supervision(),
                                               {e.token_weight / 5, e.control_weight / 5}, dl, dc)
                   .total;
      apgen::nn::backward_row(w, tape, dl, dc, sum);
    }
    CHECK(loss.total == doctest::Approx(total).epsilon(1e-6));
    // The batch runs as one packed pass, its products in other shapes than one row's: equal up to float rounding,
    // relative to the gradient's scale.
    auto close = [](const auto& a, const auto& b) {
      return (a - b).cwiseAbs().maxCoeff() < 1e-6f * (1 + b.cwiseAbs().maxCoeff());
    };
    CHECK(close(g.layers[0].up_w, sum.layers[0].up_w));
    CHECK(close(g.tok_embed, sum.tok_embed));
    CHECK_THROWS_AS(bg.compute(w, {}, g), apgen::invalid_argument);
  }

} // TEST_SUITE
