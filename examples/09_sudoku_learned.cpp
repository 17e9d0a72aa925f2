// Trains the learned AP-MDM Sudoku process in C++: a transformer over the two-slot states of tasks/sudoku, on the
// teacher's records of the training puzzles, each draw under a fresh random symmetry (tasks/sudoku/learned.hpp).
// Every --eval-every steps it scores the model on the first --dev-limit dev puzzles (exact solutions, through the
// generator with the fixed step cap), appends a line to the curve (CSV: step, losses, dev accuracy and its interval),
// keeps the best-by-dev weights and writes a checkpoint from which --resume continues bit for bit.
//
// usage: 09_sudoku_learned [--steps N] [--batch N] [--lr X] [--eval-every N] [--dev-limit N] [--out DIR] [--resume]
//   --out  where best.safetensors, checkpoint.safetensors and curve.csv go (default: sudoku-run)
// The puzzles are data/sudoku/train-100.txt and dev-1000.txt of the source tree; the test tiers are never read here.
#include <apgen/apgen.hpp>
#include <apgen/tasks/sudoku/evaluate.hpp>
#include <apgen/tasks/sudoku/learned.hpp>

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
  double lr = 1e-3;
  std::string out = "sudoku-run";
  bool resume = false;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "09_sudoku_learned: " << why
            << "\nusage: 09_sudoku_learned [--steps N] [--batch N] [--lr X] [--eval-every N] [--dev-limit N] "
               "[--out DIR] [--resume]\n";
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

  const sd::learned_setup setup;
  auto weights = apgen::nn::transformer_weights::random(sd::model_config(setup), 1);
  apgen::train::trainer_options t;
  t.steps = o.steps;
  t.batch_size = o.batch;
  t.seed = 7;
  t.schedule.base_lr = o.lr;
  t.schedule.warmup_steps = 200;
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

  std::ofstream curve(curve_path, o.resume ? std::ios::app : std::ios::trunc);
  if (!o.resume) curve << "step,loss,token_loss,remask_loss,dev_solved,dev_puzzles,dev_lower,dev_upper\n";
  double best = -1;
  apgen::train::batch_loss last{};
  trainer.on_step([&](const apgen::train::step_stats& s) { last = s.loss; });
  trainer.on_eval([&](std::uint64_t step) {
    const auto rep = sd::evaluate(apgen::nn::transformer(weights), dev, {.step_cap = sd::default_step_cap});
    curve << step << ',' << last.total << ',' << last.token << ',' << last.remask << ',' << rep.solved.successes << ','
          << dev.size() << ',' << rep.solved.lower() << ',' << rep.solved.upper() << std::endl;
    std::fprintf(stderr, "\nstep %llu: dev %zu/%zu solved (%.1f%%), %zu stopped unsolved, %zu capped\n",
                 static_cast<unsigned long long>(step), rep.solved.successes, dev.size(), 100 * rep.solved.rate(),
                 rep.stopped_unsolved, rep.step_capped);
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
