// The committed Sudoku puzzle sets (data/sudoku, made by tools/make_sudoku_sets.py; their sha256 are checked by
// the ctest "data.sudoku_manifest"): sizes, the regime of the training, dev and T1 puzzles, one solution each, and
// no dev or test puzzle a symmetry variant of a training puzzle (or of any other puzzle of the sets).

#include <apgen/tasks/sudoku/grid.hpp>
#include <apgen/tasks/sudoku/process.hpp>
#include <apgen/tasks/sudoku/solver.hpp>
#include <apgen/tasks/sudoku/symmetry.hpp>

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

namespace sd = apgen::tasks::sudoku;

namespace {
std::vector<sd::grid> read_set(const std::string& name) {
  return sd::read_puzzle_file(std::string(APGEN_DATA_DIR) + "/sudoku/" + name);
}

// True when naked and hidden singles alone do not finish the puzzle: the process's first steps reach a branch.
bool needs_a_guess(const sd::grid& p) {
  const sd::state_tokens tokens;
  auto row = sd::encode(p);
  for (;;) {
    const auto step = sd::next_step(row, tokens);
    if (step.kind == sd::step_kind::branch) return true;
    if (step.kind == sd::step_kind::solved) return false;
    sd::apply_step(row, step);
  }
}
} // namespace

TEST_CASE("sudoku sets: sizes, regime, and exactly one solution per puzzle") {
  const std::map<std::string, std::size_t> sizes{{"train-100.txt", 100},
                                                 {"dev-1000.txt", 1000},
                                                 {"t1-1000.txt", 1000},
                                                 {"t2-1000.txt", 1000},
                                                 {"t3-1000.txt", 1000}};
  for (const auto& entry : sizes) {
    const std::string& name = entry.first; // not a structured binding: CAPTURE's lambda cannot name one before C++23
    const std::size_t size = entry.second;
    CAPTURE(name);
    const auto puzzles = read_set(name);
    CHECK(puzzles.size() == size);
    std::size_t bad = 0, out_of_regime = 0, not_17 = 0;
    for (const auto& p : puzzles) {
      bad += sd::count_solutions(p, 2) != 1;
      const std::size_t g = sd::given_count(p);
      out_of_regime += g < 20 || g > 28 || !needs_a_guess(p);
      not_17 += g != 17;
    }
    CHECK(bad == 0);
    if (name == "t2-1000.txt")
      CHECK(not_17 == 0);
    else if (name != "t3-1000.txt")
      CHECK(out_of_regime == 0);
  }
}

TEST_CASE("sudoku sets: no dev or test puzzle is a symmetry variant of a training puzzle, nor of each other") {
  std::map<sd::grid, std::string> seen;
  std::size_t collisions = 0;
  for (const char* name : {"train-100.txt", "dev-1000.txt", "t1-1000.txt", "t2-1000.txt", "t3-1000.txt"}) {
    const auto puzzles = read_set(name);
    for (std::size_t k = 0; k < puzzles.size(); ++k) {
      const std::string where = std::string(name) + ":" + std::to_string(k + 1);
      const auto [it, fresh] = seen.emplace(sd::canonical_form(puzzles[k]), where);
      if (!fresh) {
        ++collisions;
        MESSAGE(where << " is a symmetry variant of " << it->second);
      }
    }
  }
  CHECK(collisions == 0);
  CHECK(seen.size() == 4100);
}
