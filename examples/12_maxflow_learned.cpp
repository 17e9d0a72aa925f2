// The learned max-flow process (tasks/maxflow/learned.hpp): train it in C++ on the teacher's transitions, or load
// it, and judge it on held-out graphs of 4..10 nodes: exact match with the teacher's final sequence and the
// verifier's verdict (a minimum s-t cut deleted, nothing else touched), with 95% intervals, steps and time.
//
// usage: 12_maxflow_learned [--model apmdm|arm] [--train] [--resume] [--steps N] [--batch N] [--lr X]
//                           [--graphs-per-count N] [--eval-every N] [--out DIR] [--weights FILE] [--split dev|test]
//                           [--limit N]
//   --model             the AP-MDM process model (default) or the ARM baseline (tasks/maxflow/arm.hpp: the same
//                       process, each next state written left to right after the current one), trained on the same
//                       graphs with the same schedule
//   --train             train a model; every --eval-every steps (default 1,000) score it on the first 30 dev
//                       graphs of each node count, append a line to DIR/curve.csv, keep DIR/best.safetensors (best
//                       by dev) and DIR/checkpoint.safetensors, from which --resume continues bit for bit
//   --out               the training run's folder (default maxflow-run)
//   --weights           the model to judge without --train (default: the shipped models/maxflow/apmdm.safetensors
//                       or arm.safetensors; after --train: DIR/best.safetensors)
//   --diagnose          also print the AP-MDM model's teacher-forced step accuracy by phase on the judged graphs
//   --split, --limit    the graphs judged: the test split (default) or dev, the first N of each node count
//                       (default 1,000 test, 200 dev: all the task holds out)
#include <apgen/apgen.hpp>
#include <apgen/core/proportion.hpp>
#include <apgen/tasks/maxflow/arm.hpp>
#include <apgen/tasks/maxflow/learned.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#ifndef APGEN_DATA_DIR
#define APGEN_DATA_DIR "data"
#endif

namespace mf = apgen::tasks::maxflow;

namespace {

struct options {
  bool train = false, resume = false, arm = false, diagnose = false;
  mf::training setup{};
  std::uint64_t eval_every = 1000;
  std::string out = "maxflow-run", weights;
  bool test = true;
  std::size_t limit = 0;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr
      << "12_maxflow_learned: " << why
      << "\nusage: 12_maxflow_learned [--model apmdm|arm] [--train] [--resume] [--diagnose] [--steps N] [--batch N] "
         "[--lr X] [--graphs-per-count N] [--eval-every N] [--out DIR] [--weights FILE] [--split dev|test] [--limit "
         "N]\n";
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  for (int k = 1; k < argc; ++k) {
    const std::string a = argv[k];
    if (a == "--train" || a == "--resume" || a == "--diagnose") {
      (a == "--train" ? o.train : a == "--resume" ? o.resume : o.diagnose) = true;
      continue;
    }
    if (k + 1 >= argc) usage(a + " needs a value");
    const std::string v = argv[++k];
    if (a == "--out") {
      o.out = v;
      continue;
    }
    if (a == "--weights") {
      o.weights = v;
      continue;
    }
    if (a == "--model") {
      if (v != "apmdm" && v != "arm") usage("--model is apmdm or arm, got \"" + v + "\"");
      o.arm = v == "arm";
      continue;
    }
    if (a == "--split") {
      if (v != "dev" && v != "test") usage("--split is dev or test, got \"" + v + "\"");
      o.test = v == "test";
      continue;
    }
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || !(x >= 0)) usage(a + " takes a non-negative number, got \"" + v + "\"");
    if (a == "--steps")
      o.setup.steps = static_cast<std::uint64_t>(x);
    else if (a == "--batch")
      o.setup.batch_size = static_cast<std::size_t>(x);
    else if (a == "--lr")
      o.setup.lr = x;
    else if (a == "--graphs-per-count")
      o.setup.graphs_per_count = static_cast<std::size_t>(x);
    else if (a == "--eval-every")
      o.eval_every = static_cast<std::uint64_t>(x);
    else if (a == "--limit")
      o.limit = static_cast<std::size_t>(x);
    else
      usage("unknown option " + a);
  }
  if (o.resume && !o.train) usage("--resume continues a --train run");
  if (o.diagnose && o.arm) usage("--diagnose reads the AP-MDM model's single steps; the ARM has none");
  return o;
}

std::vector<mf::graph> held_out(bool test, std::size_t nodes, std::size_t count) {
  std::vector<mf::graph> g;
  for (std::size_t i = 0; i < count; ++i) g.push_back(mf::instance(test ? mf::split::test : mf::split::dev, nodes, i));
  return g;
}

/// The best dev rate in an existing curve (its dev_exact column), so a resumed run keeps the best of both parts.
double best_in_curve(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  double best = -1;
  std::getline(in, line); // header
  while (std::getline(in, line)) {
    std::stringstream row(line);
    std::string cell;
    for (int column = 0; column < 4 && std::getline(row, cell, ','); ++column)
      if (column == 3) best = std::max(best, std::strtod(cell.c_str(), nullptr));
  }
  return best;
}

/// The chosen model's runs on `graphs`.
std::vector<mf::solve_result> run(bool arm, const apgen::nn::transformer& model, const std::vector<mf::graph>& graphs) {
  return arm ? mf::solve_arm(model, graphs) : mf::solve(model, graphs);
}

} // namespace

int main(int argc, char** argv) try {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  options o = parse(argc, argv);
  auto& s = o.setup;
  if (o.train) {
    std::filesystem::create_directories(o.out);
    const std::string best_path = o.out + "/best.safetensors", curve_path = o.out + "/curve.csv";
    s.checkpoint_every = o.eval_every;
    s.checkpoint_path = o.out + "/checkpoint.safetensors";
    std::vector<mf::graph> dev;
    for (std::size_t n = s.min_nodes; n <= s.max_nodes_trained; ++n)
      for (auto& g : held_out(false, n, 30)) dev.push_back(std::move(g));
    double best = o.resume ? best_in_curve(curve_path) : -1;
    std::ofstream curve(curve_path, o.resume ? std::ios::app : std::ios::trunc);
    if (!o.resume) curve << "step,loss,token_loss,control_loss,dev_exact,dev_verified,dev_graphs\n";
    apgen::train::batch_loss window{};
    std::size_t window_steps = 0;
    std::printf(
        "training the %s on %zu graphs of each node count %zu..%zu (train split, held-out graphs removed), %llu "
        "steps of %zu, lr %g\n",
        o.arm ? "ARM" : "AP-MDM model", s.graphs_per_count, s.min_nodes, s.max_nodes_trained,
        static_cast<unsigned long long>(s.steps), s.batch_size, s.lr);
    const auto t0 = std::chrono::steady_clock::now();
    const auto last = (o.arm ? mf::train_arm : mf::train_model)(
        s,
        [&](const apgen::train::step_stats& st) {
          window.total += st.loss.total;
          window.token += st.loss.token;
          window.remask += st.loss.remask + st.loss.insert + st.loss.erase;
          ++window_steps;
        },
        o.eval_every,
        [&](std::uint64_t step, apgen::nn::transformer_weights& w) {
          const auto runs = run(o.arm, apgen::nn::transformer(w), dev);
          std::size_t exact = 0, verified = 0;
          for (const auto& r : runs) {
            exact += r.exact;
            verified += r.check.passed();
          }
          const double n = window_steps ? static_cast<double>(window_steps) : 1.0;
          const double rate = static_cast<double>(exact) / static_cast<double>(dev.size());
          curve << step << ',' << window.total / n << ',' << window.token / n << ',' << window.remask / n << ',' << rate
                << ',' << static_cast<double>(verified) / static_cast<double>(dev.size()) << ',' << dev.size()
                << std::endl;
          std::fprintf(stderr, "\nstep %llu: loss %.4f (token %.4f, controls %.4f); dev exact %zu/%zu, verified %zu\n",
                       static_cast<unsigned long long>(step), window.total / n, window.token / n, window.remask / n,
                       exact, dev.size(), verified);
          window = {};
          window_steps = 0;
          if (rate > best) {
            best = rate;
            apgen::nn::save_transformer(best_path, w);
          }
        },
        o.resume ? s.checkpoint_path : std::string{});
    std::printf("trained in %.0f s (%zu parameters); curve %s, best by dev %s (%.1f%% of %zu dev graphs exact)\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), last.parameter_count(),
                curve_path.c_str(), best_path.c_str(), 100 * best, dev.size());
    if (o.weights.empty()) o.weights = best_path;
  }
  if (o.weights.empty())
    o.weights = std::string(APGEN_DATA_DIR "/../models/maxflow/") + (o.arm ? "arm" : "apmdm") + ".safetensors";
  const auto weights = o.arm ? mf::load_arm(o.weights) : mf::load_model(o.weights);
  const apgen::nn::transformer model(weights);
  const std::size_t count = o.limit ? o.limit : o.test ? mf::test_graphs : mf::dev_graphs;
  std::printf("\n%s (%zu parameters) on the first %zu %s graphs of each node count\n", o.weights.c_str(),
              weights.parameter_count(), count, o.test ? "test" : "dev");
  std::printf("| nodes | graphs | exact (95%% interval) | verified (95%% interval) | steps mean (teacher) | step cap / "
              "overflow | ms per graph |\n|---|---|---|---|---|---|---|\n");
  for (std::size_t n = 4; n <= 10; ++n) {
    const auto graphs = held_out(o.test, n, count);
    const auto t0 = std::chrono::steady_clock::now();
    const auto runs = run(o.arm, model, graphs);
    const double ms = 1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    apgen::proportion exact, verified;
    double steps = 0, teacher_steps = 0;
    std::size_t capped = 0, overflowed = 0;
    for (std::size_t i = 0; i < runs.size(); ++i) {
      exact.successes += runs[i].exact;
      verified.successes += runs[i].check.passed();
      ++exact.trials;
      ++verified.trials;
      steps += runs[i].steps;
      teacher_steps += runs[i].teacher_steps;
      capped += runs[i].reason == apgen::stop_reason::step_limit;
      overflowed += runs[i].reason == apgen::stop_reason::capacity;
    }
    const double g = static_cast<double>(runs.size());
    std::printf("| %zu | %zu | %.2f%% [%.2f, %.2f] | %.2f%% [%.2f, %.2f] | %.1f (%.1f) | %zu / %zu | %.1f |\n", n,
                runs.size(), 100 * exact.rate(), 100 * exact.lower(), 100 * exact.upper(), 100 * verified.rate(),
                100 * verified.lower(), 100 * verified.upper(), steps / g, teacher_steps / g, capped, overflowed,
                ms / g);
  }
  if (o.diagnose) {
    std::vector<mf::graph> graphs;
    for (std::size_t n = 4; n <= 10; ++n)
      for (auto& g : held_out(o.test, n, count)) graphs.push_back(std::move(g));
    const auto report = mf::step_accuracy(model, graphs);
    std::printf("\nteacher-forced steps written exactly, by the teacher's phase (%zu graphs)\n| phase | steps | exact "
                "(95%% interval) |\n|---|---|---|\n",
                graphs.size());
    for (std::size_t k = 0; k < report.by_phase.size(); ++k) {
      const auto& p = report.by_phase[k];
      if (p.trials == 0) continue;
      std::printf("| %s | %zu | %.2f%% [%.2f, %.2f] |\n", std::string(mf::to_string(static_cast<mf::phase>(k))).c_str(),
                  static_cast<std::size_t>(p.trials), 100 * p.rate(), 100 * p.lower(), 100 * p.upper());
    }
    std::printf("| all | %zu | %.2f%% [%.2f, %.2f] |\n", static_cast<std::size_t>(report.all.trials),
                100 * report.all.rate(), 100 * report.all.lower(), 100 * report.all.upper());
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "12_maxflow_learned: " << e.what() << "\n";
  return 1;
}
