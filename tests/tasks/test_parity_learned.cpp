// End to end: the parity process learned from the oracle's transitions of short inputs (tasks/parity_learned.hpp)
// solves strings far longer than any it was trained on, and the seven-transition training set of 2-bit inputs is
// fitted exactly.
#include <apgen/apgen.hpp>
#include <apgen/tasks/parity/learned.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <set>

namespace {
namespace parity = apgen::tasks::parity;

// Runs every input through `gen` in one ragged batch; returns how many end on the right answer.
template <class Generator>
std::size_t solved(Generator& gen, const apgen::vocabulary& v, const std::vector<std::vector<int>>& inputs) {
  std::vector<std::size_t> caps;
  for (const auto& b : inputs) caps.push_back(b.size() + 1);
  apgen::canvas c(v, caps);
  for (std::size_t r = 0; r < inputs.size(); ++r) c.assign(r, parity::encode(v, inputs[r]), 1);
  gen.generate(c);
  std::size_t ok = 0;
  for (std::size_t r = 0; r < inputs.size(); ++r) {
    const auto expect = parity::answer(v, inputs[r]);
    ok += std::equal(c.row(r).begin(), c.row(r).end(), expect.begin(), expect.end()) ? 1 : 0;
  }
  return ok;
}

} // namespace

TEST_CASE("all_inputs lists every bit string of the lengths asked for") {
  const auto a = parity::all_inputs(1, 3);
  CHECK(a.size() == 2 + 4 + 8);
  CHECK(std::set<std::vector<int>>(a.begin(), a.end()).size() == a.size());
  CHECK(a.front() == std::vector<int>{0});
  CHECK(a.back() == std::vector<int>{1, 1, 1});
  CHECK_THROWS_AS((void)parity::all_inputs(1, 21), apgen::invalid_argument);
}

TEST_CASE("a model trained on inputs of up to 5 bits solves every string up to 9 bits and random ones up to 400") {
  const auto v = parity::make_vocabulary();
  double loss = 1;
  auto w = parity::train_process_model(v, {}, [&](const apgen::train::step_stats& s) { loss = s.loss.total; });
  MESSAGE("final training loss " << loss);
  auto gen = parity::make_process_generator(apgen::nn::transformer(w));
  const auto short_inputs = parity::all_inputs(0, 9);
  CHECK(solved(gen, v, short_inputs) == short_inputs.size());
  std::mt19937 rng(4);
  std::vector<std::vector<int>> long_inputs;
  for (std::size_t n = 10; n <= 400; n += 13) {
    std::vector<int> b(n);
    for (auto& x : b) x = static_cast<int>(rng() & 1u);
    long_inputs.push_back(b);
  }
  CHECK(solved(gen, v, long_inputs) == long_inputs.size());
}

TEST_CASE("the seven transitions of 2-bit inputs are fitted: the model replays them exactly") {
  const auto v = parity::make_vocabulary();
  parity::process_training two;
  two.min_input_length = two.max_input_length = 2;
  two.steps = 600;
  const auto records = parity::process_records(v, two);
  std::set<std::pair<std::vector<int>, std::vector<int>>> distinct;
  for (const auto& r : records) distinct.emplace(r.x, r.next);
  CHECK(distinct.size() == 9); // the seven transitions and the two fixed points [BOS] and [BOS] 1
  auto gen = parity::make_process_generator(apgen::nn::transformer(parity::train_process_model(v, two)));
  // One step from each state: the model's next state is the oracle's.
  for (const auto& state : distinct) {
    const auto& x = state.first; // plain references: clang 14 cannot capture structured bindings in a lambda
    const auto& next = state.second;
    apgen::canvas c(v, 1, x.size());
    c.assign(0, x, 1);
    apgen::no_trace off;
    std::vector<int> after;
    bool first = true;
    gen.generate(c, off, [&](const apgen::canvas& now, const apgen::step_report&) {
      if (first) after.assign(now.row(0).begin(), now.row(0).end());
      first = false;
    });
    CAPTURE(v.to_text(x, " "));
    CHECK(after == next);
  }
}

TEST_CASE("ARM baseline examples supervise only the answer after =") {
  const auto v = parity::make_arm_vocabulary();
  const auto e = parity::arm_example(v, {1, 0, 1});
  CHECK(e.input == std::vector<int>{v.require_bos("t"), v.id("1"), v.id("0"), v.id("1"), v.id("=")});
  CHECK(e.targets == std::vector<int>{-1, -1, -1, -1, v.id("0")});
  CHECK(parity::arm_answer(v, {1, 1, 1}) == v.id("1"));
  parity::arm_training bad;
  bad.min_length = bad.max_length = 5;
  CHECK_THROWS_WITH_AS((void)parity::train_arm_model(v, bad), doctest::Contains("length range"),
                       apgen::invalid_argument);
  const auto caps = parity::arm_curriculum({});
  CHECK(caps.front() == 3);
  CHECK(caps.back() == 100);
  CHECK(std::is_sorted(caps.begin(), caps.end()));
}

TEST_CASE("ARM: a causal model trained on shifted targets decodes what it learned") {
  // The answer is the first bit: one attention hop, learned in a few hundred steps. Training reads position i's
  // logits as the prediction of token i + 1; decoding fills the MASK after "=" from the position before it. If
  // the two conventions disagreed, the decoded answers would be a coin.
  const auto v = parity::make_arm_vocabulary();
  std::mt19937 rng(1);
  std::vector<apgen::train::example> data;
  for (int k = 0; k < 256; ++k) {
    std::vector<int> bits(1 + rng() % 8);
    for (auto& x : bits) x = static_cast<int>(rng() & 1u);
    auto clean = parity::arm_prompt(v, bits);
    clean.push_back(bits[0] ? v.id("1") : v.id("0"));
    auto e = apgen::train::arm_example(clean);
    std::fill(e.targets.begin(), e.targets.end() - 1, -1);
    data.push_back(e);
  }
  auto cfg = parity::arm_model_config(v);
  cfg.d_model = 32;
  cfg.n_layers = 1;
  cfg.d_ff = 64;
  auto w = apgen::nn::transformer_weights::random(cfg, 3);
  apgen::train::trainer_options o;
  o.steps = 300;
  o.batch_size = 32;
  o.quiet = true;
  o.schedule.base_lr = 3e-3;
  apgen::train::trainer(w, data, o).run();
  auto gen = apgen::make_generator(apgen::nn::transformer(w), apgen::schedules::autoregressive<>());
  std::size_t ok = 0, total = 100;
  apgen::canvas c(v, total, 12);
  std::vector<std::vector<int>> inputs(total);
  for (std::size_t r = 0; r < total; ++r) {
    inputs[r].resize(1 + rng() % 8);
    for (auto& x : inputs[r]) x = static_cast<int>(rng() & 1u);
    auto row = parity::arm_prompt(v, inputs[r]);
    const std::size_t prompt = row.size();
    row.push_back(v.mask());
    c.assign(r, row, prompt);
  }
  gen.generate(c);
  for (std::size_t r = 0; r < total; ++r) ok += c.row(r).back() == (inputs[r][0] ? v.id("1") : v.id("0")) ? 1 : 0;
  MESSAGE(ok << " of " << total << " first bits decoded");
  CHECK(ok >= 95);
}
