// Trains the learned AP-MDM Sudoku process in C++: a transformer over the two-slot states of tasks/sudoku, on the
// teacher's records of the training puzzles, each draw under a fresh random symmetry (tasks/sudoku/learned.hpp).
// Every --eval-every steps it scores the model on the first --dev-limit dev puzzles (exact solutions, through the
// generator with the fixed step cap), appends a line to the curve (CSV: step, losses, dev accuracy and its interval),
// keeps the best-by-dev weights and writes a checkpoint from which --resume continues bit for bit.
//
// usage: 09_sudoku_learned [--steps N] [--batch N] [--lr X] [--min-lr X] [--eval-every N] [--dev-limit N]
//                          [--eval-step-cap N] [--control-weight X] [--write-weight X] [--solution-targets]
//                          [--out DIR] [--resume]
//   --lr, --min-lr    a cosine from lr (after 200 warm-up steps) to min-lr at --steps (default 1e-3, 1e-4)
//   --eval-step-cap   the step cap of the dev scoring during training (default 512, 2.6x the longest dev teacher
//                     trajectory; the reported evaluation uses the task's fixed 8192): an untrained model that never
//                     halts would otherwise spend most of the run at the cap
//   --write-weight    a factor on the remask loss at the slots each step writes (learned_setup::write_weight)
//   --out             where best.safetensors, checkpoint.safetensors and curve.csv go (default: sudoku-run)
// The puzzles are data/sudoku/train-100.txt and dev-1000.txt of the source tree; the test tiers are never read here.
#include <apgen/apgen.hpp>
#include <apgen/tasks/sudoku/evaluate.hpp>
#include <apgen/tasks/sudoku/learned.hpp>
#include <apgen/tasks/sudoku/step_accuracy.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#ifndef APGEN_DATA_DIR
#define APGEN_DATA_DIR "data"
#endif

namespace sd = apgen::tasks::sudoku;

namespace {

struct options {
  std::uint64_t steps = 20000, eval_every = 500;
  std::size_t batch = 64, dev_limit = 200;
  std::uint32_t eval_step_cap = 512;
  double lr = 1e-3, min_lr = 1e-4, control_weight = 1.0, write_weight = 1.0;
  std::string out = "sudoku-run";
  bool resume = false, solution_targets = false;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr
      << "09_sudoku_learned: " << why
      << "\nusage: 09_sudoku_learned [--steps N] [--batch N] [--lr X] [--min-lr X] [--eval-every N] "
         "[--dev-limit N] [--eval-step-cap N] [--control-weight X] [--write-weight X] [--solution-targets] [--out DIR] "
         "[--resume]\n";
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  for (int k = 1; k < argc; ++k) {
    const std::string a = argv[k];
    if (a == "--resume") {
      o.resume = true;
      continue;
    }
    if (a == "--solution-targets") {
      o.solution_targets = true;
      continue;
    }
    if (k + 1 >= argc) usage(a + " needs a value");
    const std::string v = argv[++k];
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    const bool numeric = !v.empty() && *end == '\0' && x >= 0;
    if (a == "--out")
      o.out = v;
    else if (!numeric)
      usage(a + " takes a non-negative number, got \"" + v + "\"");
    else if (a == "--steps")
      o.steps = static_cast<std::uint64_t>(x);
    else if (a == "--batch")
      o.batch = static_cast<std::size_t>(x);
    else if (a == "--lr")
      o.lr = x;
    else if (a == "--eval-every")
      o.eval_every = static_cast<std::uint64_t>(x);
    else if (a == "--dev-limit")
      o.dev_limit = static_cast<std::size_t>(x);
    else if (a == "--eval-step-cap")
      o.eval_step_cap = static_cast<std::uint32_t>(x);
    else if (a == "--min-lr")
      o.min_lr = x;
    else if (a == "--control-weight")
      o.control_weight = x;
    else if (a == "--write-weight")
      o.write_weight = x;
    else
      usage("unknown option " + a);
  }
  return o;
}

std::vector<sd::grid> read_set(const std::string& name) {
  return sd::read_puzzle_file(std::string(APGEN_DATA_DIR) + "/sudoku/" + name);
}

} // namespace

int main(int argc, char** argv) try {
  const options o = parse(argc, argv);
  const auto train_puzzles = read_set("train-100.txt");
  auto dev = read_set("dev-1000.txt");
  if (o.dev_limit && dev.size() > o.dev_limit) dev.resize(o.dev_limit);
  std::filesystem::create_directories(o.out);
  const std::string best_path = o.out + "/best.safetensors", checkpoint = o.out + "/checkpoint.safetensors",
                    curve_path = o.out + "/curve.csv";

  sd::learned_setup setup;
  setup.control_weight = o.control_weight;
  setup.write_weight = o.write_weight;
  setup.solution_targets = o.solution_targets;
  auto weights = sd::initial_weights(setup, 1);
  apgen::train::trainer_options t;
  t.steps = o.steps;
  t.batch_size = o.batch;
  t.seed = 7;
  t.schedule.base_lr = o.lr;
  t.schedule.warmup_steps = std::min<std::uint64_t>(200, o.steps);
  t.schedule.kind = apgen::train::lr_kind::cosine;
  t.schedule.total_steps = o.steps;
  t.schedule.min_lr = o.min_lr;
  t.adam.weight_decay = 0.01;
  t.eval_every = o.eval_every;
  t.checkpoint_every = o.eval_every;
  t.checkpoint_path = checkpoint;
  apgen::train::trainer trainer(weights, sd::symmetry_augmented_source(train_puzzles, 11, setup), t);
  if (o.resume) trainer.resume(checkpoint);
  std::cout << "model: " << weights.parameter_count() << " parameters (d " << setup.d_model << ", " << setup.n_layers
            << " layers, " << setup.n_heads << " heads), states of " << sd::slots << " slots, "
            << sd::state_tokens(setup.max_depth).size() << " tokens; training on " << train_puzzles.size()
            << " puzzles under random symmetries, batch " << o.batch << ", from step " << trainer.step() << " to "
            << o.steps << "\n";

  const std::string header = "step,loss,token_loss,remask_loss,dev_solved,dev_puzzles,dev_lower,dev_upper,"
                             "dev_steps_exact,dev_written,dev_chosen,dev_held_back,dev_written_naked,dev_written_other";
  if (o.resume) { // a curve begun by an earlier version with fewer columns gets the new ones, empty, on old rows
    std::ifstream old(curve_path);
    std::string first, line;
    std::vector<std::string> rows;
    if (std::getline(old, first) && first != header && header.rfind(first + ",", 0) == 0) {
      const auto missing = std::count(header.begin(), header.end(), ',') - std::count(first.begin(), first.end(), ',');
      while (std::getline(old, line)) rows.push_back(line + std::string(static_cast<std::size_t>(missing), ','));
      old.close();
      std::ofstream upgraded(curve_path, std::ios::trunc);
      upgraded << header << "\n";
      for (const auto& r : rows) upgraded << r << "\n";
      std::cout << "curve: " << curve_path << " gained the columns of this version (empty on its " << rows.size()
                << " earlier rows)\n";
    }
  }
  std::ofstream curve(curve_path, o.resume ? std::ios::app : std::ios::trunc);
  if (!o.resume) curve << header << "\n";
  // The one-step accuracy on the teacher's states of the first 50 dev puzzles (about 1,400 states): it climbs while
  // whole solves are still at zero (tasks/sudoku/step_accuracy.hpp).
  const std::vector<sd::grid> step_puzzles(
      dev.begin(), dev.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(50, dev.size())));
  double best = -1;
  // The curve's losses are means over the steps since the last evaluation (one batch's loss is noisy).
  apgen::train::batch_loss window{};
  std::size_t window_steps = 0;
  trainer.on_step([&](const apgen::train::step_stats& s) {
    window.total += s.loss.total;
    window.token += s.loss.token;
    window.remask += s.loss.remask;
    ++window_steps;
  });
  trainer.on_eval([&](std::uint64_t step) {
    const auto rep = sd::evaluate(apgen::nn::transformer(weights), dev, {.step_cap = o.eval_step_cap});
    const auto acc = sd::step_accuracy(apgen::nn::transformer(weights), step_puzzles);
    const double n = window_steps ? static_cast<double>(window_steps) : 1.0;
    curve << step << ',' << window.total / n << ',' << window.token / n << ',' << window.remask / n << ','
          << rep.solved.successes << ',' << dev.size() << ',' << rep.solved.lower() << ',' << rep.solved.upper() << ','
          << acc.steps.rate() << ',' << acc.written.rate() << ',' << acc.chosen.rate() << ',' << acc.held_back.rate()
          << ',' << acc.written_by_single[0].rate() << ',' << acc.written_by_single[1].rate() << std::endl;
    std::fprintf(stderr,
                 "\nstep %llu: loss %.4f (token %.4f, remask %.4f); dev %zu/%zu solved (%.1f%%), %zu stopped "
                 "unsolved, %zu capped, %.1f s; dev steps exact %.1f%% (propagate %.1f%%, branch %.1f%%, backtrack "
                 "%.1f%%, halt %.1f%%), fills and guesses written right %.1f%% (naked singles %.1f%%, others %.1f%%), "
                 "chosen right %.1f%%, held back %.1f%%\n",
                 static_cast<unsigned long long>(step), window.total / n, window.token / n, window.remask / n,
                 rep.solved.successes, dev.size(), 100 * rep.solved.rate(), rep.stopped_unsolved, rep.step_capped,
                 rep.seconds, 100 * acc.steps.rate(),
                 100 * acc.by_kind[static_cast<std::size_t>(sd::step_kind::propagate)].rate(),
                 100 * acc.by_kind[static_cast<std::size_t>(sd::step_kind::branch)].rate(),
                 100 * acc.by_kind[static_cast<std::size_t>(sd::step_kind::backtrack)].rate(),
                 100 * acc.by_kind[static_cast<std::size_t>(sd::step_kind::solved)].rate(), 100 * acc.written.rate(),
                 100 * acc.written_by_single[0].rate(), 100 * acc.written_by_single[1].rate(), 100 * acc.chosen.rate(),
                 100 * acc.held_back.rate());
    window = {};
    window_steps = 0;
    if (rep.solved.rate() > best) {
      best = rep.solved.rate();
      apgen::nn::save_transformer(best_path, weights);
    }
  });
  trainer.run();
  std::cout << "curve: " << curve_path << "; best by dev: " << best_path << " (" << 100 * best << "% of " << dev.size()
            << " dev puzzles)\n";
  return 0;
} catch (const apgen::error& e) {
  std::cerr << "09_sudoku_learned: " << e.what() << "\n";
  return 1;
}
