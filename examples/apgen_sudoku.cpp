// apgen-sudoku: solves Sudoku puzzles with an AP-MDM Sudoku process run through the generator, prints the process of
// the first puzzles step by step on request, and a summary: exact-solution accuracy with its Wilson 95% interval,
// valid-but-wrong, stopped-unsolved and step-cap counts, steps per puzzle, wall time and puzzles per second.
//
// usage: apgen-sudoku [--weights FILE] [--puzzles FILE|-] [--limit N] [--show K] [--svg FILE] [--step-cap N]
//                     [--batch N] [--teacher-stats]
//   --weights  a learned Sudoku model (safetensors, as examples/09_sudoku_learned writes); without it the solver is
//              the teacher's process
//   --puzzles  one puzzle per line (81 characters, '.' or '0' blank) or nine-line boards; '-' reads standard input
//              (default: data/sudoku/t1-1000.txt of the source tree)
//   --limit    the first N puzzles only
//   --show     print the process of the first K puzzles, one board per step
//   --svg      draw the first puzzle's process as a picture, one board per step (tasks/sudoku/picture.hpp); a PNG
//              beside it is one `rsvg-convert FILE -o FILE.png` away
//   --step-cap the step budget of every puzzle, fixed before the run (default 8192)
//   --teacher-stats  also print the teacher's trajectories: steps, branches, backtracks and depth per puzzle
// Without --weights the solver is the teacher's process (tasks/sudoku/process.hpp) as a denoiser: the reference
// every learned Sudoku model is measured against. Both run through the same harness (tasks/sudoku/evaluate.hpp).
#include <apgen/apgen.hpp>
#include <apgen/draw/progress.hpp>
#include <apgen/tasks/sudoku/evaluate.hpp>
#include <apgen/tasks/sudoku/learned.hpp>
#include <apgen/tasks/sudoku/oracle.hpp>
#include <apgen/tasks/sudoku/picture.hpp>
#include <apgen/tasks/sudoku/render.hpp>
#include <apgen/tasks/sudoku/teacher.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
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
  std::string weights, svg;
  std::string puzzles = std::string(APGEN_DATA_DIR) + "/sudoku/t1-1000.txt";
  std::size_t limit = 0, show = 0, batch = 64;
  std::uint32_t step_cap = sd::default_step_cap;
  bool teacher_stats = false;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr
      << "apgen-sudoku: " << why
      << "\nusage: apgen-sudoku [--weights FILE] [--puzzles FILE|-] [--limit N] [--show K] [--svg FILE] [--step-cap N] "
         "[--batch N] [--teacher-stats]\n";
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
    else if (a == "--svg")
      o.svg = v;
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

// One puzzle's process through the generator: every state from the puzzle to the fixed point, and what each step
// did, in words.
struct solving_process {
  std::vector<std::vector<apgen::token_id>> states;
  std::vector<std::string> steps; // steps[t]: what made states[t + 1]
};

template <class Denoiser>
solving_process run_process(const Denoiser& model, const sd::grid& puzzle, const options& o) {
  const sd::state_tokens tokens;
  const apgen::vocabulary v = tokens.make_vocabulary();
  apgen::canvas c(v, 1, sd::slots);
  c.assign(0, sd::encode(puzzle));
  auto gen = apgen::make_generator(
      model, apgen::schedules::any_process<>(),
      apgen::generator_options{.max_steps = o.step_cap, .encoder = apgen::row_encoder(sd::state_encoder())});
  solving_process out;
  out.states.emplace_back(c.row(0).begin(), c.row(0).end());
  gen.generate(c, [&](const apgen::canvas& now, const apgen::step_report&) {
    const std::vector<apgen::token_id>& before = out.states.back();
    std::vector<apgen::token_id> after(now.row(0).begin(), now.row(0).end());
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
    std::string what;
    if (filled) what += " filled " + std::to_string(filled);
    if (guessed) what += " guessed 1";
    if (undone) what += " backtracked (remasked " + std::to_string(undone) + ")";
    if (noted) what += " noted " + std::to_string(noted);
    if (what.empty()) what = " nothing changes: solved, the process halts";
    out.steps.push_back(what);
    out.states.push_back(std::move(after));
  });
  return out;
}

// Prints a process: the board after every step that changed it, with what the step did.
void show_process(const solving_process& p, const sd::grid& puzzle, std::size_t index) {
  const sd::state_tokens tokens;
  std::cout << "puzzle " << index << " (" << sd::given_count(puzzle) << " givens):\n"
            << sd::render_state(p.states.front(), tokens);
  for (std::size_t t = 0; t < p.steps.size(); ++t) {
    std::cout << "step " << t + 1 << ":" << p.steps[t] << "\n";
    if (p.states[t] != p.states[t + 1]) std::cout << sd::render_state(p.states[t + 1], tokens);
  }
}

// Draws a process, one board per state, captioned by step number and kind.
void draw_process(const solving_process& p, const std::string& path) {
  std::vector<std::string> captions{"puzzle"};
  for (std::size_t t = 0; t < p.steps.size(); ++t) {
    std::string c = std::to_string(t + 1) + ":";
    const std::string& w = p.steps[t];
    c += w.find("backtracked") != std::string::npos ? " backtrack"
         : w.find("guessed") != std::string::npos   ? " guess"
         : w.find("filled") != std::string::npos    ? " fill"
         : w.find("noted") != std::string::npos     ? " note"
                                                    : " halt";
    captions.push_back(c);
  }
  std::ofstream f(path);
  if (!f) throw apgen::invalid_argument("apgen-sudoku: cannot write " + path);
  sd::write_process_svg(f, p.states, captions, sd::state_tokens());
  if (!f) throw apgen::invalid_argument("apgen-sudoku: writing " + path + " failed");
  std::printf("drew the first puzzle's process (%zu states) in %s\n", p.states.size(), path.c_str());
}

template <class Denoiser>
void show_and_draw(const Denoiser& model, const std::vector<sd::grid>& puzzles, const options& o) {
  for (std::size_t k = 0; k < puzzles.size() && (k < o.show || (k == 0 && !o.svg.empty())); ++k) {
    const solving_process p = run_process(model, puzzles[k], o);
    if (k < o.show) show_process(p, puzzles[k], k);
    if (k == 0 && !o.svg.empty()) draw_process(p, o.svg);
  }
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
  // A bar on a terminal (a learned model's 1,000 puzzles take a while); nothing when the output is a file.
  auto bar = apgen::draw::progress_bar::for_stderr(puzzles.size(), "solve");
  sd::evaluation_options eval;
  eval.step_cap = o.step_cap;
  eval.batch = o.batch;
  eval.on_progress = [&bar](std::size_t done, std::size_t) { bar.update(done); };
  if (o.weights.empty()) {
    const sd::oracle teacher;
    show_and_draw(teacher, puzzles, o);
    rep = sd::evaluate(teacher, puzzles, eval);
    std::printf("solver: the teacher's process (tasks/sudoku/process.hpp), step cap %u\n", o.step_cap);
  } else {
    auto weights = sd::load_model(o.weights);
    const std::size_t parameters = weights.parameter_count();
    const apgen::nn::transformer model(std::move(weights));
    show_and_draw(model, puzzles, o);
    rep = sd::evaluate(model, puzzles, eval);
    std::printf("solver: the learned model %s (%zu parameters), step cap %u\n", o.weights.c_str(), parameters,
                o.step_cap);
  }
  bar.finish();
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
