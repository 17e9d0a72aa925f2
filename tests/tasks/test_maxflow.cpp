// Max-flow / min-cut: the graph checks, the exact solver against brute force, the random instances, the state
// parser, the process (every trajectory ends in a final sequence the verifier passes, with one walk per
// unit of flow), the teacher through the generator (replayed, same steps as the direct process, placeholders kept
// by the remask bit), the verifier on wrong answers, the state encoder, the held-out split and the learned setup's
// plumbing (the exact process judged through solve, wrong model files refused).
#include <apgen/apgen.hpp>
#include <apgen/tasks/maxflow/learned.hpp>
#include <apgen/tasks/maxflow/teacher.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace {
namespace mf = apgen::tasks::maxflow;
using row = std::vector<apgen::token_id>;

// The minimum number of edges leaving a node set that holds the source and not the target (brute force).
std::size_t brute_force_min_cut(const mf::graph& g) {
  std::size_t best = g.edges.size();
  for (std::size_t set = 0; set < (std::size_t{1} << g.nodes); ++set) {
    if (!((set >> g.source) & 1) || ((set >> g.target) & 1)) continue;
    std::size_t cut = 0;
    for (const auto& e : g.edges) cut += ((set >> e.from) & 1) && !((set >> e.to) & 1);
    best = std::min(best, cut);
  }
  return best;
}

mf::graph small_graph() {
  mf::graph g;
  g.nodes = 4;
  g.source = 0;
  g.target = 3;
  g.edges = {{0, 1}, {0, 2}, {1, 3}, {2, 3}}; // two disjoint paths: flow 2
  return g;
}

row final_of(const mf::graph& g) {
  return mf::trajectory(g).final_sequence();
}

} // namespace

TEST_CASE("maxflow: the vocabulary keeps the released ids from \"(\" on, MASK first") {
  const auto v = mf::make_vocabulary();
  CHECK(v.size() == mf::tokens::count);
  CHECK(v.mask() == mf::tokens::mask);
  CHECK(v.id("(") == 7);
  CHECK(v.id("FB") == 9);
  CHECK(v.id("[EOA]") == 10);
  CHECK(v.id("[LVL0]") == mf::tokens::level(0));
  CHECK(v.id("[LVL19]") == 32);
  CHECK(v.id("0") == mf::tokens::node(0));
  CHECK(v.id("19") == 52);
  CHECK(v.id("[EOS]") == mf::tokens::eos);
}

TEST_CASE("maxflow: bad graphs are named") {
  auto g = small_graph();
  CHECK_NOTHROW(mf::check_graph(g));
  auto same = g;
  same.target = same.source;
  CHECK_THROWS_WITH_AS(mf::check_graph(same), doctest::Contains("source and target"), apgen::invalid_argument);
  auto big = g;
  big.nodes = mf::max_nodes + 1;
  CHECK_THROWS_WITH_AS(mf::check_graph(big), doctest::Contains("vocabulary names"), apgen::invalid_argument);
  auto loop = g;
  loop.edges = {{1, 1}};
  CHECK_THROWS_WITH_AS(mf::check_graph(loop), doctest::Contains("self loop"), apgen::invalid_argument);
  auto both = g;
  both.edges = {{1, 2}, {2, 1}};
  CHECK_THROWS_WITH_AS(mf::check_graph(both), doctest::Contains("both ways"), apgen::invalid_argument);
  auto order = g;
  order.edges = {{2, 3}, {0, 1}};
  CHECK_THROWS_WITH_AS(mf::check_graph(order), doctest::Contains("order"), apgen::invalid_argument);
  auto far = g;
  far.edges = {{0, 7}};
  CHECK_THROWS_WITH_AS(mf::check_graph(far), doctest::Contains("names a node past"), apgen::invalid_argument);
  CHECK_THROWS_AS((void)mf::prompt(same), apgen::invalid_argument);
  CHECK_THROWS_AS((void)mf::random_graph(mf::max_nodes + 1, 0, 0), apgen::invalid_argument);
}

TEST_CASE("maxflow: Edmonds-Karp equals the brute-force minimum cut, and its cut separates") {
  for (std::size_t n = 3; n <= 8; ++n)
    for (std::uint64_t i = 0; i < 60; ++i) {
      const auto g = mf::random_graph(n, 5, i);
      const auto f = mf::max_flow(g);
      CAPTURE(n);
      CAPTURE(i);
      CHECK(f.value == brute_force_min_cut(g));
      CHECK(f.cut.size() == f.value);
      auto left = g;
      left.edges.clear();
      for (std::size_t e = 0; e < g.edges.size(); ++e)
        if (std::find(f.cut.begin(), f.cut.end(), e) == f.cut.end()) left.edges.push_back(g.edges[e]);
      CHECK(mf::separates(left));
      CHECK_FALSE(mf::separates(g));
    }
  CHECK(mf::max_flow(small_graph()).value == 2);
}

TEST_CASE("maxflow: random instances are valid, reproducible, within their edge counts, with a positive flow") {
  for (std::size_t n = 4; n <= 10; ++n) {
    const auto [lo, hi] = mf::edge_count_range(n);
    for (std::uint64_t i = 0; i < 50; ++i) {
      const auto g = mf::random_graph(n, 9, i);
      CHECK_NOTHROW(mf::check_graph(g));
      CHECK(g.nodes == n);
      CHECK(g.edges.size() >= lo);
      CHECK(g.edges.size() <= hi);
      CHECK(mf::max_flow(g).value > 0);
      CHECK(g == mf::random_graph(n, 9, i));
    }
    CHECK_FALSE(mf::random_graph(n, 9, 0) == mf::random_graph(n, 10, 0));
  }
}

TEST_CASE("maxflow: every trajectory ends in a final sequence the verifier passes, one walk per unit of flow") {
  for (std::size_t n = 4; n <= 10; ++n)
    for (std::uint64_t i = 0; i < 40; ++i) {
      const auto g = mf::random_graph(n, 3, i);
      const auto t = mf::trajectory(g);
      const auto v = mf::verify(g, t.final_sequence());
      CAPTURE(n);
      CAPTURE(i);
      CHECK_MESSAGE(v.passed(), v.problem);
      // One walk per unit of flow: a trace, then one flip per edge of the path (the target's BFS level), then the
      // reset.
      const auto traces = std::count(t.phases.begin(), t.phases.end(), mf::phase::trace);
      CHECK(static_cast<std::size_t>(traces) == mf::max_flow(g).value);
      for (std::size_t k = 0; k < t.steps(); ++k) {
        if (t.phases[k] != mf::phase::trace) continue;
        const auto depth = mf::tokens::level_of(mf::parse_state(t.states[k]).nodes[g.target].level);
        std::size_t flips = 0;
        while (k + 1 + flips < t.steps() && t.phases[k + 1 + flips] == mf::phase::flip) ++flips;
        CHECK(flips == depth);
        REQUIRE(k + 1 + flips < t.steps());
        CHECK(t.phases[k + 1 + flips] == mf::phase::reset);
      }
      CHECK(std::count(t.phases.begin(), t.phases.end(), mf::phase::reset) == traces);
      REQUIRE(t.steps() >= 8);
      CHECK(t.phases[0] == mf::phase::slots);
      CHECK(t.phases[1] == mf::phase::fill);
      CHECK(t.phases[2] == mf::phase::parents);
      const std::vector<mf::phase> last(t.phases.end() - 5, t.phases.end());
      CHECK(last == std::vector<mf::phase>{mf::phase::append, mf::phase::end_mark, mf::phase::cut, mf::phase::erase,
                                           mf::phase::end});
      for (const auto& s : t.states) CHECK(s.size() <= mf::capacity_for(g));
      CHECK(mf::next_step(t.final_sequence()).kind == mf::phase::done);
    }
}

TEST_CASE("maxflow: teacher runs replay, match the direct process and keep placeholders by remask") {
  std::vector<mf::graph> graphs;
  for (std::size_t n = 4; n <= 7; ++n)
    for (std::uint64_t i = 0; i < 8; ++i) graphs.push_back(mf::random_graph(n, 11, i));
  std::vector<apgen::train::transition_record> records;
  const auto steps = mf::teacher(
      graphs, [&](apgen::train::transition_record&& r) { records.push_back(std::move(r)); }, {}, 5);
  REQUIRE(steps.size() == graphs.size());
  // Records come step by step, the rows of a batch interleaved: sort them by trajectory, then step.
  std::stable_sort(records.begin(), records.end(),
                   [](const auto& a, const auto& b) { return a.trajectory < b.trajectory; });
  std::size_t at = 0, placeholders = 0;
  for (std::size_t k = 0; k < graphs.size(); ++k) {
    const auto t = mf::trajectory(graphs[k]);
    CHECK(steps[k] == t.steps() + 1); // the fixed point is one more step
    for (std::size_t s = 0; s <= t.steps(); ++s, ++at) {
      REQUIRE(at < records.size());
      const auto& r = records[at];
      CHECK(r.trajectory == static_cast<std::int64_t>(k));
      CHECK(r.step == static_cast<std::int64_t>(s));
      CHECK(r.x == t.states[s]);
      CHECK(r.next == t.states[std::min(s + 1, t.steps())]);
      // Every MASK of x that is still a MASK in next was kept by its remask bit (or deleted).
      for (std::size_t p = 0; p < r.x.size(); ++p)
        if (r.x[p] == mf::tokens::mask && !r.del[p] && !r.unmask[p]) {
          CHECK(r.remask[p] == 1);
          ++placeholders;
        }
    }
  }
  CHECK(at == records.size());
  CHECK(placeholders > 0);
}

TEST_CASE("maxflow: malformed states are named") {
  const auto g = small_graph();
  const row p = mf::prompt(g);
  CHECK_NOTHROW((void)mf::parse_state(p));
  row unknown = p;
  unknown[7] = 60;
  CHECK_THROWS_WITH_AS((void)mf::parse_state(unknown), doctest::Contains("not in the vocabulary"),
                       apgen::invalid_token);
  row open = p;
  open.erase(open.begin() + 9); // the first edge's ")"
  CHECK_THROWS_AS((void)mf::parse_state(open), apgen::invalid_token);
  row same = p;
  same[4] = same[2]; // TGT = SRC
  CHECK_THROWS_WITH_AS((void)mf::parse_state(same), doctest::Contains("both node"), apgen::invalid_token);
  row order = p;
  std::swap(order[order.size() - 2], order[order.size() - 5]); // node ids out of order
  CHECK_THROWS_WITH_AS((void)mf::parse_state(order), doctest::Contains("in order"), apgen::invalid_token);
  row stray = final_of(g);
  stray.push_back(mf::tokens::fb);
  CHECK_THROWS_AS((void)mf::parse_state(stray), apgen::invalid_token);
  row mixed = mf::trajectory(g).states[1];
  mixed.erase(mixed.begin() + 9); // one edge loses its slot while the others keep theirs
  CHECK_THROWS_WITH_AS((void)mf::next_step(mixed), doctest::Contains("slots"), apgen::invalid_token);
  CHECK_THROWS_AS((void)mf::next_step(row{}), apgen::invalid_token);
}

TEST_CASE("maxflow: the verifier refuses wrong answers and says why") {
  const auto g = small_graph();
  const row good = final_of(g);
  CHECK(mf::verify(g, good).passed());

  const auto t = mf::trajectory(g);
  const row unfinished = t.states[t.steps() - 1]; // [EOA] [MASK]
  CHECK_FALSE(mf::verify(g, unfinished).passed());
  CHECK_FALSE(mf::verify(g, unfinished).well_formed);

  // Before the cut: nothing deleted, so source and target are still joined.
  row uncut = t.states[t.steps() - 3];
  uncut.push_back(mf::tokens::eos);
  const auto v = mf::verify(g, uncut);
  CHECK(v.well_formed);
  CHECK(v.untouched);
  CHECK_FALSE(v.separates);
  CHECK(v.problem.find("still join") != std::string::npos);

  // Deleting every edge separates, but is not a minimum cut.
  mf::graph empty = g;
  empty.edges.clear();
  row bare = mf::trajectory(empty).final_sequence();
  const auto w = mf::verify(g, bare);
  CHECK(w.separates);
  CHECK_FALSE(w.minimum);
  CHECK(w.problem.find("max flow is 2") != std::string::npos);

  // An edge the graph does not have.
  row foreign = good;
  const std::size_t first_edge = mf::parse_state(good).edges.at(0).at;
  foreign[first_edge + 1] = mf::tokens::node(3);
  foreign[first_edge + 2] = mf::tokens::node(0);
  CHECK_FALSE(mf::verify(g, foreign).untouched);
  CHECK_FALSE(mf::verify(g, row{1, 2, 3}).passed());
  CHECK(mf::verify(g, row{99}).problem.find("malformed") != std::string::npos);
}

TEST_CASE("maxflow: the encoder's roles agree with the parser, and a broken row is read without throwing") {
  const auto g = mf::instance(mf::split::test, 6, 3);
  for (const auto& st : mf::trajectory(g).states) {
    const auto parsed = mf::parse_state(st);
    const auto r = mf::read_roles(st);
    for (const auto& e : parsed.edges) {
      if (e.marked) {
        CHECK(r.roles[e.at] == mf::role::marked);
        continue;
      }
      CHECK(r.roles[e.at] == mf::role::open);
      CHECK(r.roles[e.at + 1] == mf::role::edge_from);
      CHECK(r.first[e.at + 3] == e.from + 1);
      CHECK(r.second[e.at + 3] == e.to + 1);
      if (e.slots > 0) CHECK(r.roles[e.at + 3] == mf::role::edge_slot1);
      if (e.slots > 1) CHECK(r.roles[e.at + 4] == mf::role::edge_slot2);
    }
    for (const auto& n : parsed.nodes) {
      CHECK(r.roles[n.at + 1] == mf::role::node_id);
      CHECK(r.first[n.at + 1] == n.id + 1);
      if (n.slots > 0) CHECK(r.roles[n.at + 2] == mf::role::node_level);
      if (n.slots > 1) CHECK(r.roles[n.at + 3] == mf::role::node_parent);
    }
    if (parsed.tail != mf::tail_kind::none) CHECK(r.roles[parsed.tail_at] == mf::role::tail_first);
  }
  // The endpoint feature: 1 on the source's node group, 2 on the target's, 3 * e(v) + e(u) on an edge.
  {
    const row st = final_of(g);
    apgen::row_encoding enc;
    mf::state_encoder{}.encode(st, enc);
    const auto parsed = mf::parse_state(st);
    for (const auto& ng : parsed.nodes)
      CHECK(enc.features[3][ng.at + 2] == (ng.id == g.source ? 1 : ng.id == g.target ? 2 : 0));
    for (const auto& eg : parsed.edges) {
      if (eg.marked) continue;
      auto e = [&](std::size_t x) { return x == g.source ? 1 : x == g.target ? 2 : 0; };
      CHECK(enc.features[3][eg.at + 1] == 3 * e(eg.to) + e(eg.from));
    }
    CHECK(enc.features[3][0] == 0);
    CHECK(mf::endpoint_code(row{}, 3, 4) == 0); // no header: no endpoint
  }
  row broken = mf::prompt(g);
  broken[8] = mf::tokens::close; // "( u ) )": the group does not fit
  broken.insert(broken.begin() + 12, mf::tokens::eoa);
  apgen::row_encoding e;
  CHECK_NOTHROW(mf::state_encoder{}.encode(broken, e));
  CHECK(e.features.size() == 4);
  CHECK(e.features[0][6] == static_cast<apgen::token_id>(mf::role::other));
  CHECK(mf::read_roles(row{}).roles.empty());
}

TEST_CASE("maxflow: training graphs are distinct and never a held-out graph") {
  for (const std::size_t n : {4, 7}) {
    const auto train = mf::training_graphs(n, 400);
    std::set<mf::graph> held, seen;
    for (std::uint64_t i = 0; i < mf::test_graphs; ++i) held.insert(mf::instance(mf::split::test, n, i));
    for (std::uint64_t i = 0; i < mf::dev_graphs; ++i) held.insert(mf::instance(mf::split::dev, n, i));
    CHECK(train.size() == 400);
    for (const auto& g : train) {
      CHECK(held.count(g) == 0);
      CHECK(seen.insert(g).second);
    }
  }
  // 4 nodes hold only a few thousand instances: asking for more than exist outside the held-out ones is named.
  CHECK_THROWS_WITH_AS((void)mf::training_graphs(4, 50000), doctest::Contains("distinct graphs"),
                       apgen::invalid_argument);
}

TEST_CASE("maxflow: solve judges runs (the exact process scores 100%), examples carry the encoder's features") {
  std::vector<mf::graph> graphs;
  for (std::size_t n = 4; n <= 10; ++n)
    for (std::uint64_t i = 0; i < 6; ++i) graphs.push_back(mf::instance(mf::split::dev, n, i));
  const auto runs = mf::solve(mf::oracle{}, graphs, {.batch = 8, .max_steps = 200});
  REQUIRE(runs.size() == graphs.size());
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto& r = runs[i];
    CHECK(r.teacher_steps == mf::trajectory(graphs[i]).steps() + 1);
    CHECK(r.steps == r.teacher_steps); // the exact process takes the teacher's steps
    CHECK(r.exact);
    CHECK(r.check.passed());
    CHECK(r.reason == apgen::stop_reason::fixed_point);
  }
  // A step cap below the trajectory's length leaves the row unfinished, and it is judged so.
  const auto capped = mf::solve(mf::oracle{}, graphs, {.batch = 8, .max_steps = 5});
  for (const auto& r : capped) {
    CHECK_FALSE(r.exact);
    CHECK_FALSE(r.check.passed());
    CHECK(r.reason == apgen::stop_reason::step_limit);
  }
  mf::training setup;
  setup.min_nodes = 4;
  setup.max_nodes_trained = 5;
  setup.graphs_per_count = 5;
  const auto examples = mf::training_examples(setup);
  REQUIRE_FALSE(examples.empty());
  for (const auto& e : examples) {
    CHECK(e.features.size() == 4);
    CHECK(e.allowed.size() == e.input.size());
  }
  setup.min_nodes = 2;
  CHECK_THROWS_AS((void)mf::training_examples(setup), apgen::invalid_argument);
}

TEST_CASE("maxflow: a model file of another task or a cut file is refused") {
  const auto dir = std::filesystem::temp_directory_path();
  // A model of the right shape round-trips; one without features (another task's) is named.
  mf::training setup;
  setup.size = {32, 1, 2, 64};
  auto w = mf::initial_weights(mf::model_config(setup.size), setup);
  const auto good = (dir / "apgen-maxflow-model.safetensors").string();
  apgen::nn::save_transformer(good, w);
  CHECK(mf::load_model(good).config.d_model == 32);
  auto other_config = mf::model_config(setup.size);
  other_config.feature_vocab_sizes.clear();
  auto other = apgen::nn::transformer_weights::random(other_config, 1);
  const auto wrong = (dir / "apgen-maxflow-other.safetensors").string();
  apgen::nn::save_transformer(wrong, other);
  CHECK_THROWS_WITH_AS((void)mf::load_model(wrong), doctest::Contains("feature vocabularies"), apgen::shape_mismatch);
  const auto cut = (dir / "apgen-maxflow-cut.safetensors").string();
  std::filesystem::copy_file(good, cut, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::resize_file(cut, std::filesystem::file_size(cut) / 2);
  CHECK_THROWS((void)mf::load_model(cut));
  for (const auto& f : {good, wrong, cut}) std::filesystem::remove(f);
}

TEST_CASE("maxflow: the shipped model loads and solves held-out graphs, and every exact run verifies") {
  const auto w = mf::load_model(APGEN_DATA_DIR "/../models/maxflow/apmdm.safetensors");
  CHECK(w.parameter_count() == 552632);
  const apgen::nn::transformer model(w);
  for (const std::size_t n : {4, 6}) {
    std::vector<mf::graph> graphs;
    for (std::uint64_t i = 0; i < 20; ++i) graphs.push_back(mf::instance(mf::split::dev, n, i));
    std::size_t exact = 0;
    for (const auto& r : mf::solve(model, graphs)) {
      exact += r.exact;
      if (r.exact) CHECK(r.check.passed());
    }
    CAPTURE(n);
    // On the first 30 dev graphs the model solves 30 of 4 nodes and 27 of 6 (models/maxflow/README.md); a model
    // that lost the process would fall far below.
    CHECK(exact >= (n == 4 ? 20u : 16u));
  }
}

TEST_CASE("maxflow: mutated states are refused with apgen errors, never read out of bounds") {
  // Real states with random tokens replaced, inserted or removed (ids from -2 to 59, past the vocabulary): the
  // parser, the process, the encoder and the verifier either work or throw an apgen::error. (The asan build runs
  // this under AddressSanitizer and UBSan.)
  const auto g = mf::instance(mf::split::test, 6, 5);
  const auto t = mf::trajectory(g);
  apgen::counter_rng rng(17, apgen::rng_stream::user);
  std::size_t refused = 0, stepped = 0;
  for (std::uint32_t trial = 0; trial < 3000; ++trial) {
    row r = t.states[rng.below(static_cast<std::uint32_t>(t.states.size()), trial, 0, 0)];
    const std::uint32_t edits = 1 + rng.below(3, trial, 1, 0);
    for (std::uint32_t k = 0; k < edits && !r.empty(); ++k) {
      const std::size_t at = rng.below(static_cast<std::uint32_t>(r.size()), trial, 2, k);
      const auto token = static_cast<apgen::token_id>(rng.below(62, trial, 3, k)) - 2;
      switch (rng.below(3, trial, 4, k)) {
      case 0:
        r[at] = token;
        break;
      case 1:
        r.insert(r.begin() + static_cast<std::ptrdiff_t>(at), token);
        break;
      default:
        r.erase(r.begin() + static_cast<std::ptrdiff_t>(at));
      }
    }
    apgen::row_encoding e;
    mf::state_encoder{}.encode(r, e); // lenient: never throws
    CHECK(e.allowed.size() == r.size());
    CHECK_NOTHROW((void)mf::verify(g, r)); // a verdict, never an exception
    try {
      const auto step = mf::next_step(r);
      REQUIRE(step.moves.size() == r.size());
      (void)mf::apply_step(r, step);
      ++stepped;
    } catch (const apgen::error&) {
      ++refused;
    }
  }
  CHECK(refused > 1000);
  CHECK(stepped > 0);
}
