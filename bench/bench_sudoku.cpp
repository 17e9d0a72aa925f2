// Sudoku: the exact solver's speed on the committed puzzle tiers, and the training data's throughput: the teacher's
// trajectories of the 100 training puzzles, each under a fresh random symmetry, stepped directly (process.hpp) and
// as generator records with the model's encoding (teacher.hpp), and as the same records built directly
// (direct_records), in transitions per second. The trainer's consumption to hold them against is bench_training's
// examples per second (a step of 64 examples).
//
// Run: build/release/bench/bench_sudoku

#include <apgen/tasks/sudoku/grid.hpp>
#include <apgen/tasks/sudoku/solver.hpp>
#include <apgen/tasks/sudoku/symmetry.hpp>
#include <apgen/tasks/sudoku/teacher.hpp>

#include <benchmark/benchmark.h>

#include <map>
#include <random>
#include <string>
#include <vector>

namespace sd = apgen::tasks::sudoku;

namespace {

const std::vector<sd::grid>& tier(const std::string& name) {
  static std::map<std::string, std::vector<sd::grid>> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  return cache[name] = sd::read_puzzle_file(std::string(APGEN_DATA_DIR) + "/sudoku/" + name);
}

// Counts the solutions (stopping at 2) of every puzzle of a tier: the uniqueness check of the puzzle sets.
void BM_count_solutions(benchmark::State& state, const char* name) {
  const auto& puzzles = tier(name);
  std::size_t unique = 0;
  for (auto _ : state)
    for (const auto& p : puzzles) unique += sd::count_solutions(p, 2) == 1;
  benchmark::DoNotOptimize(unique);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(puzzles.size()));
  state.counters["puzzles"] = static_cast<double>(puzzles.size());
}
BENCHMARK_CAPTURE(BM_count_solutions, t1, "t1-1000.txt")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_count_solutions, t3, "t3-1000.txt")->Unit(benchmark::kMillisecond);

// The process stepped directly from each training puzzle under a random symmetry.
void BM_trajectories(benchmark::State& state) {
  const auto& puzzles = tier("train-100.txt");
  const sd::state_tokens tokens;
  std::mt19937_64 rng(1);
  std::int64_t transitions = 0;
  for (auto _ : state)
    for (const auto& p : puzzles) {
      const auto tr = sd::trajectory(sd::random_symmetry(rng).apply(p), tokens);
      transitions += static_cast<std::int64_t>(tr.steps() + 1); // and the halting step
    }
  state.SetItemsProcessed(transitions);
  state.counters["transitions/s"] = benchmark::Counter(static_cast<double>(transitions), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_trajectories)->Unit(benchmark::kMillisecond);

// The same as training records: the oracle through the generator, with the state encoder's features.
void BM_teacher_records(benchmark::State& state) {
  const auto& base = tier("train-100.txt");
  std::mt19937_64 rng(2);
  std::int64_t records = 0;
  for (auto _ : state) {
    std::vector<sd::grid> puzzles;
    for (const auto& p : base) puzzles.push_back(sd::random_symmetry(rng).apply(p));
    sd::teacher(puzzles, [&](apgen::train::transition_record&& r) {
      benchmark::DoNotOptimize(r.x.data());
      ++records;
    });
  }
  state.SetItemsProcessed(records);
  state.counters["transitions/s"] = benchmark::Counter(static_cast<double>(records), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_teacher_records)->Unit(benchmark::kMillisecond);

// The same records built directly from the process's steps (direct_records): the trainer's data source.
void BM_direct_records(benchmark::State& state) {
  const auto& base = tier("train-100.txt");
  const sd::state_encoder encoder;
  std::mt19937_64 rng(2);
  std::int64_t records = 0;
  for (auto _ : state)
    for (const auto& p : base)
      sd::direct_records(sd::random_symmetry(rng).apply(p), encoder, [&](apgen::train::transition_record&& r) {
        benchmark::DoNotOptimize(r.x.data());
        ++records;
      });
  state.SetItemsProcessed(records);
  state.counters["transitions/s"] = benchmark::Counter(static_cast<double>(records), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_direct_records)->Unit(benchmark::kMillisecond);

} // namespace
