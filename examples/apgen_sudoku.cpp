// apgen-sudoku: solves Sudoku puzzles with an AP-MDM Sudoku process run through the generator, prints the process of
// the first puzzles step by step on request, and a summary: exact-solution accuracy with its Wilson 95% interval,
// valid-but-wrong, stopped-unsolved and step-cap counts, steps per puzzle, wall time and puzzles per second.
//
// usage: apgen-sudoku [--weights FILE] [--puzzles FILE|-] [--limit N] [--show K] [--step-cap N] [--batch N]
//   --weights  a learned Sudoku model (safetensors, as examples/09_sudoku_learned writes); without it the solver is
//              the teacher's process
//   --puzzles  one puzzle per line (81 characters, '.' or '0' blank) or nine-line boards; '-' reads standard input
//              (default: data/sudoku/t1-1000.txt of the source tree)
//   --limit    the first N puzzles only
//   --show     print the process of the first K puzzles, one board per step
//   --step-cap the step budget of every puzzle, fixed before the run (default 8192)
//   --teacher-stats  also print the teacher's trajectories: steps, branches, backtracks and depth per puzzle
// Without --weights the solver is the teacher's process (tasks/sudoku/process.hpp) as a denoiser: the reference
// every learned Sudoku model is measured against. Both run through the same harness (tasks/sudoku/evaluate.hpp).
#include <apgen/apgen.hpp>
#include <apgen/tasks/sudoku/evaluate.hpp>
#include <apgen/tasks/sudoku/learned.hpp>
#include <apgen/tasks/sudoku/oracle.hpp>
#include <apgen/tasks/sudoku/render.hpp>
#include <apgen/tasks/sudoku/teacher.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#ifndef APGEN_DATA_DIR
#define APGEN_DATA_DIR "data"
#endif

namespace sd = apgen::tasks::sudoku;

namespace {

struct options {
  std::string weights;
  std::string puzzles = std::string(APGEN_DATA_DIR) + "/sudoku/t1-1000.txt";
  std::size_t limit = 0, show = 0, batch = 64;
  std::uint32_t step_cap = sd::default_step_cap;
  bool teacher_stats = false;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr
      << "apgen-sudoku: " << why
      << "\nusage: apgen-sudoku [--weights FILE] [--puzzles FILE|-] [--limit N] [--show K] [--step-cap N] [--batch N] "
         "[--teacher-stats]\n";
  std::exit(2);
}

std::size_t number(const char* s, const char* flag) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (!*s || *end) usage(std::string(flag) + " takes a whole number, got \"" + s + "\"");
  return static_cast<std::size_t>(v);
}

options parse(int argc, char** argv) {
  options o;
  for (int k = 1; k < argc; ++k) {
    const std::string a = argv[k];
    if (a == "--teacher-stats") {
      o.teacher_stats = true;
      continue;
    }
    if (k + 1 >= argc) usage(a == "--help" ? "solves Sudoku puzzles" : a + " needs a value");
    const char* v = argv[++k];
    if (a == "--puzzles")
      o.puzzles = v;
    else if (a == "--weights")
      o.weights = v;
    else if (a == "--limit")
      o.limit = number(v, "--limit");
    else if (a == "--show")
      o.show = number(v, "--show");
    else if (a == "--batch")
      o.batch = number(v, "--batch");
    else if (a == "--step-cap")
      o.step_cap = static_cast<std::uint32_t>(number(v, "--step-cap"));
    else
      usage("unknown option " + a);
  }
  return o;
}

// Prints one puzzle's process: the board after every step, with what the step did.
template <class Denoiser>
void show_process(const Denoiser& model, const sd::grid& puzzle, std::size_t index, const options& o) {
  const sd::state_tokens tokens;
  const apgen::vocabulary v = tokens.make_vocabulary();
  apgen::canvas c(v, 1, sd::slots);
  c.assign(0, sd::encode(puzzle));
  auto gen = apgen::make_generator(
      model, apgen::schedules::any_process<>(),
      apgen::generator_options{.max_steps = o.step_cap, .encoder = apgen::row_encoder(sd::state_encoder())});
  std::vector<apgen::token_id> before(c.row(0).begin(), c.row(0).end());
  std::cout << "puzzle " << index << " (" << sd::given_count(puzzle) << " givens):\n"
            << sd::render_state(before, tokens);
  gen.generate(c, [&](const apgen::canvas& now, const apgen::step_report& rep) {
    const std::vector<apgen::token_id> after(now.row(0).begin(), now.row(0).end());
    std::size_t filled = 0, guessed = 0, undone = 0, noted = 0;
    for (std::size_t p = 0; p < sd::slots; ++p) {
      if (before[p] == after[p]) continue;
      if (p % 2 == 1)
        noted += after[p] != sd::state_tokens::mask();
      else if (after[p] == sd::state_tokens::mask())
        ++undone;
      else if (tokens.decode(after[p]).kind == sd::slot_kind::guess)
        ++guessed;
      else
        ++filled;
    }
    std::cout << "step " << rep.step + 1 << ":";
    if (filled) std::cout << " filled " << filled;
    if (guessed) std::cout << " guessed 1";
    if (undone) std::cout << " backtracked (remasked " << undone << ")";
    if (noted) std::cout << " noted " << noted;
    if (!filled && !guessed && !undone && !noted) std::cout << " nothing changes: solved, the process halts";
    std::cout << "\n";
    if (before != after) std::cout << sd::render_state(after, tokens);
    before = after;
  });
}

// The teacher's trajectories stepped directly: how long, how much search.
void teacher_stats(const std::vector<sd::grid>& puzzles) {
  const sd::state_tokens tokens;
  std::vector<std::size_t> transitions, branches, backtracks, depth;
  for (const auto& p : puzzles) {
    const auto tr = sd::trajectory(p, tokens);
    transitions.push_back(tr.steps() + 1); // the halting step is a recorded transition too
    branches.push_back(tr.count(sd::step_kind::branch));
    backtracks.push_back(tr.count(sd::step_kind::backtrack));
    depth.push_back(tr.max_depth_reached);
  }
  auto line = [](const char* what, std::vector<std::size_t> v) {
    std::sort(v.begin(), v.end());
    double sum = 0;
    for (auto x : v) sum += static_cast<double>(x);
    std::printf("  %-34s mean %7.1f  median %4zu  max %4zu\n", what, sum / static_cast<double>(v.size()),
                v[(v.size() - 1) / 2], v.back());
  };
  std::printf("teacher trajectories (the paper's teacher: 25,022.6 transitions per puzzle):\n");
  line("transitions per puzzle", transitions);
  line("branches (guesses) per puzzle", branches);
  line("backtracks per puzzle", backtracks);
  line("deepest guess depth", depth);
}

} // namespace

int main(int argc, char** argv) try {
  const options o = parse(argc, argv);
  std::vector<sd::grid> puzzles;
  if (o.puzzles == "-") {
    puzzles = sd::read_puzzles(std::cin, "stdin");
  } else {
    puzzles = sd::read_puzzle_file(o.puzzles);
  }
  if (o.limit && puzzles.size() > o.limit) puzzles.resize(o.limit);
  if (puzzles.empty()) usage("no puzzles in " + o.puzzles);

  sd::evaluation_report rep;
  if (o.weights.empty()) {
    const sd::oracle teacher;
    for (std::size_t k = 0; k < o.show && k < puzzles.size(); ++k) show_process(teacher, puzzles[k], k, o);
    rep = sd::evaluate(teacher, puzzles, {.step_cap = o.step_cap, .batch = o.batch});
    std::printf("solver: the teacher's process (tasks/sudoku/process.hpp), step cap %u\n", o.step_cap);
  } else {
    auto weights = sd::load_model(o.weights);
    const std::size_t parameters = weights.parameter_count();
    const apgen::nn::transformer model(std::move(weights));
    for (std::size_t k = 0; k < o.show && k < puzzles.size(); ++k) show_process(model, puzzles[k], k, o);
    rep = sd::evaluate(model, puzzles, {.step_cap = o.step_cap, .batch = o.batch});
    std::printf("solver: the learned model %s (%zu parameters), step cap %u\n", o.weights.c_str(), parameters,
                o.step_cap);
  }
  const double n = static_cast<double>(puzzles.size());
  std::printf("puzzles %zu: solved %zu = %.2f%% (95%% interval %.2f-%.2f%%), valid but wrong %zu, stopped unsolved "
              "%zu, step cap %zu\n",
              puzzles.size(), rep.solved.successes, 100 * rep.solved.rate(), 100 * rep.solved.lower(),
              100 * rep.solved.upper(), rep.valid_but_wrong, rep.stopped_unsolved, rep.step_capped);
  std::printf("steps per puzzle (the halting step included): mean %.1f, median %u, p95 %u, max %u\n", rep.mean_steps(),
              rep.steps_quantile(0.5), rep.steps_quantile(0.95), rep.steps_quantile(1.0));
  std::printf("wall time %.3f s: %.2f ms per puzzle, %.0f puzzles/s\n", rep.seconds, 1000 * rep.seconds / n,
              n / rep.seconds);
  if (o.teacher_stats) teacher_stats(puzzles);
  return rep.solved.successes == puzzles.size() ? 0 : 1;
} catch (const apgen::error& e) {
  std::cerr << "apgen-sudoku: " << e.what() << "\n";
  return 1;
}
