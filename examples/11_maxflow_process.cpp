// Max-flow as in-place edits, then the min cut deleted (tasks/maxflow): the exact process runs through the same
// engine a learned model would. First one graph step by step (each state with the phase that made it), then, for
// every node count, the process on held-out graphs through the generator: each batch's trace replayed through
// apply_transition, each final sequence checked by the verifier against the exact solver, and the number of
// transitions per instance.
//
// usage: 11_maxflow_process [--nodes N] [--index I] [--graphs N] [--svg FILE]
//   --nodes, --index  the graph shown step by step (default: 5 nodes, test graph 0)
//   --graphs          graphs per node count in the table (default 1,000: the test split)
//   --svg             draws the shown process (io/trace_svg.hpp): one line per state, unmasks, remasks, inserts and
//                     deletes coloured
#include <apgen/apgen.hpp>
#include <apgen/engine/process_trace.hpp>
#include <apgen/io/trace_svg.hpp>
#include <apgen/tasks/maxflow/teacher.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace mf = apgen::tasks::maxflow;

int main(int argc, char** argv) try {
  std::size_t nodes = 5, index = 0, graphs = 1000;
  std::string svg;
  for (int a = 1; a < argc; ++a) {
    const std::string arg = argv[a];
    if (a + 1 >= argc) {
      std::cerr << "11_maxflow_process: " << arg << " needs a value\n";
      return 2;
    }
    const std::string value = argv[++a];
    if (arg == "--svg") {
      svg = value;
      continue;
    }
    char* end = nullptr;
    const unsigned long n = std::strtoul(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0') {
      std::cerr << "11_maxflow_process: " << arg << " needs a whole number, got \"" << value << "\"\n";
      return 2;
    }
    if (arg == "--nodes")
      nodes = n;
    else if (arg == "--index")
      index = n;
    else if (arg == "--graphs")
      graphs = n;
    else {
      std::cerr << "usage: 11_maxflow_process [--nodes N] [--index I] [--graphs N] [--svg FILE]\n";
      return 2;
    }
  }
  const auto vocab = mf::make_vocabulary();

  // 1. One graph, step by step.
  const mf::graph g = mf::instance(mf::split::test, nodes, index);
  const auto flow = mf::max_flow(g);
  std::printf("test graph %zu of %zu nodes: source %zu, target %zu, %zu edges, max flow %zu\n", index, nodes, g.source,
              g.target, g.edges.size(), flow.value);
  const auto t = mf::trajectory(g);
  for (std::size_t s = 0; s < t.states.size(); ++s) {
    std::printf("%2zu %-8s", s, s == 0 ? "prompt" : std::string(mf::to_string(t.phases[s - 1])).c_str());
    for (const auto x : t.states[s]) std::printf(" %s", vocab.text(x).c_str());
    std::printf("\n");
  }
  const auto v = mf::verify(g, t.final_sequence());
  std::printf("verifier: %s; %zu steps\n\n", v.passed() ? "passed (a minimum cut deleted)" : v.problem.c_str(),
              t.steps());
  if (!svg.empty()) {
    apgen::canvas c(vocab, 1, mf::capacity_for(g));
    c.assign(0, mf::prompt(g), mf::header_length);
    auto gen = apgen::make_generator(mf::oracle{}, apgen::schedules::any_process<>());
    apgen::process_trace trace(c);
    gen.generate(c, trace);
    std::ofstream out(svg);
    apgen::io::trace_picture_options look;
    look.wrap = 64;
    look.label = mf::short_label;
    apgen::io::write_trace_svg(out, trace, vocab, look);
    std::printf("the process drawn in %s\n\n", svg.c_str());
  }

  // 2. Every node count: the held-out graphs through the generator, replayed and verified.
  std::printf("the process on %zu test graphs per node count (through the generator; every trace replayed, every final "
              "sequence verified)\n",
              graphs);
  std::printf("| nodes | edges (range) | max flow mean (max) | transitions mean [min, max] | longest row | verified | "
              "ms |\n|---|---|---|---|---|---|---|\n");
  for (std::size_t n = 4; n <= 10; ++n) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<mf::graph> set;
    for (std::size_t i = 0; i < graphs; ++i) set.push_back(mf::instance(mf::split::test, n, i));
    std::size_t records = 0, longest = 0;
    const auto steps = mf::teacher(set, [&](apgen::train::transition_record&& r) {
      ++records;
      longest = std::max(longest, std::max(r.x.size(), r.next.size()));
    });
    double edges = 0, flows = 0, transitions = 0;
    std::size_t max_flow = 0, fewest = ~std::size_t{0}, most = 0;
    for (std::size_t i = 0; i < set.size(); ++i) {
      edges += static_cast<double>(set[i].edges.size());
      const std::size_t f = mf::max_flow(set[i]).value;
      flows += static_cast<double>(f);
      max_flow = std::max(max_flow, f);
      const std::size_t steps_taken = steps[i] - 1; // the fixed point is not a transition
      transitions += static_cast<double>(steps_taken);
      fewest = std::min(fewest, steps_taken);
      most = std::max(most, steps_taken);
    }
    const auto [lo, hi] = mf::edge_count_range(n);
    const double count = static_cast<double>(set.size());
    std::printf("| %zu | %.1f (%zu-%zu) | %.2f (%zu) | %.1f [%zu, %zu] | %zu | %zu of %zu | %.0f |\n", n, edges / count,
                lo, hi, flows / count, max_flow, transitions / count, fewest, most, longest, set.size(), set.size(),
                1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "11_maxflow_process: " << e.what() << "\n";
  return 1;
}
