// The max-flow ARM baseline's plumbing: its vocabulary's ids, the causal reading of a state (the same roles as the
// lenient reader on real states, and never changed by what follows), the examples (supervised on the written state
// only), solve_arm with an ARM that writes the teacher's next state (100% exact, the teacher's steps) and with ARMs
// that never end a write or write a separator, and the loader telling the two models apart.
#include <apgen/apgen.hpp>
#include <apgen/denoisers/callable.hpp>
#include <apgen/tasks/maxflow/arm.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace {
namespace mf = apgen::tasks::maxflow;
namespace at = apgen::tasks::maxflow::arm_tokens;
using row = std::vector<apgen::token_id>;

// The state after `state` in the process (the state itself at the fixed point).
row next_state(const row& state) {
  const mf::process_step step = mf::next_step(state);
  return step.kind == mf::phase::done ? state : mf::apply_step(state, step);
}

// An ARM that writes the process's next state, or a broken one: `write_end` false never ends a write, `sep_at` >= 0
// writes [SEP] at that written position.
auto copying_arm(bool write_end = true, long sep_at = -1) {
  return apgen::callable_denoiser(at::count, [=](std::span<const apgen::token_id> r, apgen::matrix_view<float> logits) {
    const auto sep = static_cast<std::size_t>(std::find(r.begin(), r.end(), at::sep) - r.begin());
    REQUIRE(sep < r.size());
    row state;
    for (std::size_t i = 0; i < sep; ++i) state.push_back(at::to_task(r[i]));
    const row want = mf::arm_row(state, next_state(state));
    for (std::size_t i = sep + 1; i < r.size(); ++i) {
      if (r[i] != at::mask) continue;
      apgen::token_id t = i < want.size() ? want[i] : at::end;
      if (static_cast<long>(i - sep - 1) == sep_at) t = at::sep;
      if (!write_end && t == at::end) t = apgen::tasks::maxflow::arm_tokens::from_task(mf::tokens::fb);
      logits.row(i)[static_cast<std::size_t>(t)] = 10.0f;
    }
  });
}

} // namespace

TEST_CASE("maxflow arm: task tokens sit one id up, MASK is spelled [HOLE], [END] is the EOS") {
  const auto v = mf::make_arm_vocabulary();
  const auto task = mf::make_vocabulary();
  CHECK(v.size() == at::count);
  CHECK(v.mask() == at::mask);
  REQUIRE(v.eos());
  CHECK(*v.eos() == at::end);
  CHECK(v.text(at::hole) == "[HOLE]");
  CHECK(v.text(at::sep) == "[SEP]");
  for (apgen::token_id t = 0; t < static_cast<apgen::token_id>(mf::tokens::count); ++t) {
    CHECK(at::to_task(at::from_task(t)) == t);
    if (t != mf::tokens::mask) CHECK(v.text(at::from_task(t)) == task.text(t));
  }
  for (const apgen::token_id a : {at::mask, at::end, at::sep, apgen::token_id{56}, apgen::token_id{-1}})
    CHECK(at::to_task(a) == -1);
  CHECK_THROWS_AS((void)mf::arm_row(row{mf::tokens::prompt, 53}, row{}), apgen::invalid_token);
}

TEST_CASE("maxflow arm: the causal reading gives the lenient reader's roles and never changes with what follows") {
  for (std::size_t n = 4; n <= 8; n += 2)
    for (std::uint64_t i = 0; i < 4; ++i) {
      const auto run = mf::trajectory(mf::instance(mf::split::dev, n, i));
      for (const row& s : run.states) {
        const auto causal = mf::read_roles_causal(s);
        const auto whole = mf::read_roles(s);
        CHECK(causal.roles == whole.roles);
        for (std::size_t p = 0; p < s.size(); ++p) {
          // A group's "(" cannot know its nodes yet, nor an edge's first node the second.
          if (whole.roles[p] == mf::role::open) continue;
          CHECK(causal.first[p] == whole.first[p]);
          if (whole.roles[p] != mf::role::edge_from) CHECK(causal.second[p] == whole.second[p]);
        }
      }
      // The ARM rows' features of a prefix are those of the whole row: the KV cache may keep them.
      const row r = mf::arm_row(run.states[1], run.states[2]);
      apgen::row_encoding all, part;
      mf::arm_encoder{}.encode(r, all);
      for (std::size_t len = 1; len <= r.size(); len += 7) {
        mf::arm_encoder{}.encode(std::span(r).first(len), part);
        for (std::size_t f = 0; f < 5; ++f)
          CHECK(std::equal(part.features[f].begin(), part.features[f].end(), all.features[f].begin()));
      }
    }
  // A broken group is read on from the breaking token without throwing.
  const row broken{mf::tokens::prompt, mf::tokens::src,   mf::tokens::node(0), mf::tokens::tgt,     mf::tokens::node(1),
                   mf::tokens::graph,  mf::tokens::open,  mf::tokens::open,    mf::tokens::node(0), mf::tokens::node(1),
                   mf::tokens::close,  mf::tokens::nodes, mf::tokens::eoa};
  const auto r = mf::read_roles_causal(broken);
  CHECK(r.roles[6] == mf::role::open);
  CHECK(r.roles[7] == mf::role::open);
  CHECK(r.roles[8] == mf::role::edge_from);
  CHECK(r.roles[10] == mf::role::close);
  CHECK(r.roles[12] == mf::role::tail_first);
}

TEST_CASE("maxflow arm: examples are every step and the fixed point, supervised on the written state") {
  mf::training setup;
  setup.min_nodes = 4;
  setup.max_nodes_trained = 5;
  setup.graphs_per_count = 4;
  const auto examples = mf::arm_training_examples(setup);
  std::size_t expected = 0;
  for (std::size_t n = 4; n <= 5; ++n)
    for (const auto& g : mf::training_graphs(n, 4)) expected += mf::trajectory(g).steps() + 1;
  REQUIRE(examples.size() == expected);
  double weights = 0;
  for (const auto& e : examples) {
    REQUIRE(e.features.size() == 5);
    const auto sep = static_cast<std::size_t>(std::find(e.input.begin(), e.input.end(), at::sep) - e.input.begin());
    REQUIRE(sep < e.input.size());
    for (std::size_t i = 0; i < e.targets.size(); ++i) CHECK((e.targets[i] >= 0) == (i >= sep));
    CHECK(e.targets.back() == at::end);
    CHECK(e.control_weight == 0.0);
    weights += e.token_weight;
  }
  CHECK(weights / static_cast<double>(examples.size()) == doctest::Approx(1.0));
  setup.max_nodes_trained = 25;
  CHECK_THROWS_AS((void)mf::arm_training_examples(setup), apgen::invalid_argument);
}

TEST_CASE("maxflow arm: solve_arm with the copying ARM takes the teacher's steps to its final sequence") {
  std::vector<mf::graph> graphs;
  for (std::size_t n = 4; n <= 7; ++n)
    for (std::uint64_t i = 0; i < 3; ++i) graphs.push_back(mf::instance(mf::split::dev, n, i));
  const auto runs = mf::solve_arm(copying_arm(), graphs, {.batch = 5, .max_steps = 200});
  REQUIRE(runs.size() == graphs.size());
  for (const auto& r : runs) {
    CHECK(r.reason == apgen::stop_reason::fixed_point);
    CHECK(r.exact);
    CHECK(r.check.passed());
    CHECK(r.steps == r.teacher_steps);
  }
  // Too few rounds, a write that never ends, a separator written: each ends the run, judged wrong.
  for (const auto& r : mf::solve_arm(copying_arm(), graphs, {.batch = 5, .max_steps = 4})) {
    CHECK(r.reason == apgen::stop_reason::step_limit);
    CHECK_FALSE(r.exact);
  }
  for (const auto& r : mf::solve_arm(copying_arm(false), graphs, {.batch = 5, .max_steps = 200})) {
    CHECK(r.reason == apgen::stop_reason::capacity);
    CHECK(r.steps == 1);
    CHECK_FALSE(r.check.passed());
  }
  for (const auto& r : mf::solve_arm(copying_arm(true, 9), graphs, {.batch = 5, .max_steps = 200})) {
    CHECK(r.reason == apgen::stop_reason::length_limit);
    CHECK(r.final_row.size() == 9);
    CHECK_FALSE(r.exact);
  }
  CHECK_THROWS_AS((void)mf::solve_arm(copying_arm(), graphs, {.batch = 0}), apgen::invalid_argument);
}

TEST_CASE("maxflow arm: the loaders tell the ARM and the AP-MDM model apart") {
  const auto dir = std::filesystem::temp_directory_path();
  mf::training setup;
  setup.size = {32, 1, 2, 64};
  const auto arm_path = (dir / "apgen-maxflow-arm.safetensors").string();
  const auto apmdm_path = (dir / "apgen-maxflow-apmdm.safetensors").string();
  auto arm = mf::initial_weights(mf::arm_model_config(setup.size), setup);
  auto apmdm = mf::initial_weights(mf::model_config(setup.size), setup);
  apgen::nn::save_transformer(arm_path, arm);
  apgen::nn::save_transformer(apmdm_path, apmdm);
  CHECK(mf::load_arm(arm_path).config.causal);
  CHECK_THROWS_WITH_AS((void)mf::load_arm(apmdm_path), doctest::Contains("not an ARM max-flow model"),
                       apgen::shape_mismatch);
  CHECK_THROWS_WITH_AS((void)mf::load_model(arm_path), doctest::Contains("vocabulary size"), apgen::shape_mismatch);
  CHECK_THROWS_AS(
      (void)mf::solve_arm(apgen::nn::transformer(mf::load_model(apmdm_path)), {mf::instance(mf::split::dev, 4, 0)}),
      apgen::shape_mismatch);
  for (const auto& f : {arm_path, apmdm_path}) std::filesystem::remove(f);
}
