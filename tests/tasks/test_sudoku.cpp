// The Sudoku task: parsing and its errors, the exact solver, the symmetry group and canonical form, the solving
// process (its steps, replay through the transition, the fixed point) and the teacher run through the generator.

#include <apgen/core/proportion.hpp>
#include <apgen/denoisers/callable.hpp>
#include <apgen/engine/generator.hpp>
#include <apgen/schedules/any_process.hpp>
#include <apgen/tasks/sudoku/evaluate.hpp>
#include <apgen/tasks/sudoku/grid.hpp>
#include <apgen/tasks/sudoku/oracle.hpp>
#include <apgen/tasks/sudoku/picture.hpp>
#include <apgen/tasks/sudoku/process.hpp>
#include <apgen/tasks/sudoku/solver.hpp>
#include <apgen/tasks/sudoku/symmetry.hpp>
#include <apgen/tasks/sudoku/task.hpp>
#include <apgen/tasks/sudoku/teacher.hpp>
#include <apgen/train/transition_record.hpp>

#include "support/xml_check.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>

namespace sd = apgen::tasks::sudoku;

namespace {
// qqwing "expert" puzzles with their solutions (checked with `qqwing --solve --count-solutions`). The first needs
// 21 backtracks of the process; the second a few.
const char* const hard = "4..67....9....2.14........9....24.5...5...9.....91..8..7....5....9.6...18.2....6.";
const char* const hard_solution = "421679835963852714587143629798324156135786942246915387674231598359468271812597463";
const char* const easy = "....1.....5.2.7891...9...6......1.5....59....6..3.8......8.29..91.7..328......6.5";
const char* const easy_solution = "869415732453267891127983564298671453371594286645328179536842917914756328782139645";
} // namespace

TEST_CASE("sudoku: a puzzle line parses with '.' or '0' for blanks and prints back") {
  const sd::grid g = sd::parse_line(hard);
  CHECK(sd::given_count(g) == 24);
  CHECK(sd::to_line(g) == hard);
  std::string zeros = hard;
  for (auto& ch : zeros)
    if (ch == '.') ch = '0';
  CHECK(sd::parse_line(zeros) == g);
  CHECK(sd::to_board(g).find("4 . . | 6 7 . | . . .") == 0);
}

TEST_CASE("sudoku: a file holds 81-character lines and nine-line boards, with comments and blank lines") {
  std::istringstream in(std::string("# two puzzles\n") + hard + "\n\n" + sd::to_board(sd::parse_line(easy)));
  const auto p = sd::read_puzzles(in, "two.txt");
  REQUIRE(p.size() == 2);
  CHECK(p[0] == sd::parse_line(hard));
  CHECK(p[1] == sd::parse_line(easy));
}

TEST_CASE("sudoku: malformed puzzle text names the line and the problem") {
  auto read = [](const std::string& text) {
    std::istringstream in(text);
    return sd::read_puzzles(in, "bad.txt");
  };
  const std::string ok = hard;
  CHECK_THROWS_WITH_AS(read(ok + "\n" + ok.substr(0, 80) + "\n"), "bad.txt:2: 80 cells, a puzzle line needs 81",
                       apgen::parse_error);
  CHECK_THROWS_WITH_AS(read(ok + "5\n"), doctest::Contains("bad.txt:1: more than 81 cells"), apgen::parse_error);
  std::string letter = ok;
  letter[5] = 'x';
  CHECK_THROWS_WITH_AS(read(letter), "bad.txt:1: character 'x' at column 6 is not a digit, '.' or '0'",
                       apgen::parse_error);
  std::string twice = ok;
  twice[1] = '4'; // row 1 already holds a 4
  CHECK_THROWS_WITH_AS(read(twice), "bad.txt:1: the givens put 4 twice in row 1", apgen::invalid_argument);
  CHECK_THROWS_WITH_AS(read("123456789\n.........\n"), doctest::Contains("bad.txt:1: a 9-line puzzle stops after 2"),
                       apgen::parse_error);
}

TEST_CASE("sudoku: a missing puzzle file is named") {
  CHECK_THROWS_WITH_AS((void)sd::read_puzzle_file("no/such/puzzles.txt"),
                       "cannot open the puzzle file no/such/puzzles.txt", apgen::parse_error);
}

TEST_CASE("sudoku: the solver finds the unique solution and counts several or none") {
  const sd::grid p = sd::parse_line(hard);
  CHECK(sd::count_solutions(p) == 1);
  CHECK(sd::to_line(sd::unique_solution(p)) == hard_solution);
  CHECK(sd::to_line(*sd::solve(sd::parse_line(easy))) == easy_solution);
  CHECK(sd::solves(p, sd::parse_line(hard_solution)));

  sd::grid open = p;
  for (std::size_t i = 0; i < 40; ++i) open[i] = 0; // far too few givens: many solutions
  CHECK(sd::count_solutions(open, 2) == 2);
  CHECK(sd::count_solutions(open, 5) == 5);
  CHECK_THROWS_WITH_AS((void)sd::unique_solution(open, "open"), "open: the puzzle has more than one solution",
                       apgen::invalid_argument);

  sd::grid dead = sd::parse_line(hard);
  dead[1] = 1; // 4 1 . 6 7: legal givens whose completion fails
  CHECK(sd::count_solutions(dead) == 0);
  CHECK_THROWS_WITH_AS((void)sd::unique_solution(dead, "dead"), "dead: the puzzle has no solution",
                       apgen::invalid_argument);
}

TEST_CASE("sudoku: symmetries map solutions to solutions and keep the canonical form") {
  std::mt19937_64 rng(7);
  const sd::grid p = sd::parse_line(hard), s = sd::parse_line(hard_solution);
  const sd::grid form = sd::canonical_form(p);
  CHECK(sd::canonical_symmetry(p).apply(p) == form);
  for (int k = 0; k < 20; ++k) {
    const sd::symmetry g = sd::random_symmetry(rng);
    REQUIRE(g.valid());
    const sd::grid q = g.apply(p);
    CHECK(sd::given_count(q) == sd::given_count(p));
    CHECK(sd::solves(q, g.apply(s)));
    CHECK(sd::canonical_form(q) == form);
  }
  // A puzzle that is not a variant: change one given to another legal digit.
  CHECK(sd::canonical_form(sd::parse_line(easy)) != form);
  sd::grid other = p;
  other[0] = 0;
  CHECK(sd::canonical_form(other) != form);
  // The form is least: no element tried here does better.
  for (int k = 0; k < 50; ++k) {
    const sd::grid q = sd::random_symmetry(rng).apply(p);
    sd::grid relabelled = q; // q with digits relabelled by first appearance: the least form of q's layout
    std::array<std::uint8_t, 10> label{};
    std::uint8_t next = 1;
    for (auto& v : relabelled)
      if (v) {
        if (!label[v]) label[v] = next++;
        v = label[v];
      }
    CHECK(!(relabelled < form));
  }
  sd::symmetry broken;
  broken.rows = {1, 0, 2, 3, 4, 5, 6, 7, 8};
  CHECK(broken.valid());
  broken.rows = {3, 1, 2, 0, 4, 5, 6, 7, 8}; // moves a row to another band: not in the group
  CHECK(!broken.valid());
}

TEST_CASE("sudoku: the vocabulary names every state token and decodes what it encodes") {
  const sd::state_tokens t(4);
  const apgen::vocabulary v = t.make_vocabulary();
  CHECK(v.size() == t.size());
  CHECK(t.size() == 1 + 9 + 9 * 5 + 9 * 4 + 9 * 4);
  CHECK(v.text(t.fill(3, 2)) == "f3.2");
  CHECK(v.text(t.guess(7, 4)) == "b7.4");
  CHECK(v.text(t.note(9, 0)) == "x9.0");
  CHECK(v.text(sd::state_tokens::given(5)) == "g5");
  const auto n = t.decode(t.note(6, 3));
  CHECK((n.kind == sd::slot_kind::note && n.digit == 6 && n.depth == 3));
  const auto b = t.decode(t.guess(2, 1));
  CHECK((b.kind == sd::slot_kind::guess && b.digit == 2 && b.depth == 1));
  CHECK_THROWS_AS((void)t.guess(1, 5), apgen::capacity_exceeded);
  CHECK_THROWS_AS((void)t.fill(0, 0), apgen::invalid_argument);
  CHECK_THROWS_AS((void)t.decode(static_cast<apgen::token_id>(t.size())), apgen::invalid_token);
}

TEST_CASE("sudoku: the process solves by singles in waves, branches, backtracks and stops on the solution") {
  const sd::state_tokens tokens;
  for (const char* puzzle : {hard, easy}) {
    const sd::grid p = sd::parse_line(puzzle);
    const sd::process_trajectory tr = sd::trajectory(p, tokens);
    CAPTURE(puzzle);
    REQUIRE(tr.states.size() == tr.steps() + 1);
    CHECK(sd::decode(tr.states.back(), tokens) == sd::unique_solution(p));
    CHECK(tr.count(sd::step_kind::branch) >= 1);
    // Givens never change, and every state keeps the process's invariants (decode_state checks them).
    for (const auto& s : tr.states) {
      for (std::size_t i = 0; i < sd::cells; ++i)
        if (p[i]) CHECK(s[2 * i] == sd::state_tokens::given(p[i]));
      (void)sd::decode_state(s, tokens);
    }
    // The solved state is a fixed point.
    const sd::process_step last = sd::next_step(tr.states.back(), tokens);
    CHECK(last.kind == sd::step_kind::solved);
    std::vector<apgen::token_id> again = tr.states.back();
    sd::apply_step(again, last);
    CHECK(again == tr.states.back());
  }
  const sd::process_trajectory tr = sd::trajectory(sd::parse_line(hard), tokens);
  CHECK(tr.count(sd::step_kind::backtrack) == 21);
  CHECK(tr.count(sd::step_kind::branch) == 24);
  CHECK(tr.steps() == 150);
  CHECK(tr.max_depth_reached == 5);
}

TEST_CASE("sudoku: one propagation step fills every forced cell at once") {
  const sd::state_tokens tokens;
  const sd::grid p = sd::parse_line(easy);
  const auto row = sd::encode(p);
  const sd::process_step step = sd::next_step(row, tokens);
  REQUIRE(step.kind == sd::step_kind::propagate);
  // Every cell the step fills is forced by a naked or hidden single, and there are several.
  CHECK(step.filled > 1);
  const sd::grid solution = sd::unique_solution(p);
  for (std::size_t i = 0; i < sd::cells; ++i) {
    if (p[i] || step.remask[2 * i]) continue;
    CHECK(step.token[2 * i] == tokens.fill(solution[i], 0));
  }
}

TEST_CASE("sudoku: a contradiction is undone in one step and leaves a note on the branching cell") {
  const sd::state_tokens tokens;
  const sd::process_trajectory tr = sd::trajectory(sd::parse_line(hard), tokens);
  std::size_t checked = 0;
  for (std::size_t t = 0; t < tr.steps(); ++t) {
    if (tr.kinds[t] != sd::step_kind::backtrack) continue;
    const auto before = sd::decode_state(tr.states[t], tokens);
    const auto after = sd::decode_state(tr.states[t + 1], tokens);
    CHECK(after.depth + 1 == before.depth);
    const auto g = static_cast<std::size_t>(before.guess_cell[before.depth]);
    // The failed guess is gone and its cell carries a note of its digit one level up.
    CHECK(after.value[g].kind == sd::slot_kind::mask);
    CHECK(after.note[g].kind == sd::slot_kind::note);
    CHECK(after.note[g].digit == before.value[g].digit);
    CHECK(after.note[g].depth + 1 == before.depth);
    // Nothing of the failed depth is left.
    for (std::size_t i = 0; i < sd::cells; ++i) {
      CHECK(!(after.value[i].kind == sd::slot_kind::fill && after.value[i].depth >= before.depth));
      CHECK(!(after.note[i].kind == sd::slot_kind::note && after.note[i].depth >= before.depth));
    }
    ++checked;
  }
  CHECK(checked == 21);
}

TEST_CASE("sudoku: a trajectory maps state by state under a symmetry and stays a solving process") {
  const sd::state_tokens tokens;
  std::mt19937_64 rng(3);
  const sd::grid p = sd::parse_line(hard);
  const auto tr = sd::trajectory(p, tokens);
  sd::symmetry g = sd::random_symmetry(rng);
  // Relabelling breaks a note's "up to v": refused on a state with a note, accepted on the start.
  std::size_t with_note = 0;
  while (sd::decode_state(tr.states[with_note], tokens).depth == 0 ||
         std::none_of(tr.states[with_note].begin(), tr.states[with_note].end(),
                      [&](apgen::token_id t) { return tokens.decode(t).kind == sd::slot_kind::note; }))
    ++with_note;
  CHECK_THROWS_AS((void)sd::transform_state(g, tr.states[with_note], tokens), apgen::invalid_argument);
  CHECK(sd::transform_state(g, tr.states[0], tokens) == sd::encode(g.apply(p)));
  // Without relabelling every state maps, keeps the process's invariants, and ends on the mapped puzzle's solution.
  g.relabel = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  const sd::grid q = g.apply(p);
  std::vector<std::vector<apgen::token_id>> mapped;
  for (const auto& s : tr.states) mapped.push_back(sd::transform_state(g, s, tokens));
  CHECK(mapped.front() == sd::encode(q));
  CHECK(sd::decode(mapped.back(), tokens) == sd::unique_solution(q));
  for (const auto& s : mapped) (void)sd::decode_state(s, tokens);
}

TEST_CASE("sudoku: malformed states get errors naming the slot") {
  const sd::state_tokens tokens;
  auto row = sd::encode(sd::parse_line(hard));
  CHECK_THROWS_AS((void)sd::next_step(std::span(row).first(100), tokens), apgen::shape_mismatch);
  auto r1 = row;
  r1[3] = sd::state_tokens::given(5); // a digit in a note slot
  CHECK_THROWS_WITH_AS((void)sd::next_step(r1, tokens), doctest::Contains("slot 3 (note of cell 1) holds a digit"),
                       apgen::invalid_token);
  auto r2 = row;
  r2[2] = tokens.guess(2, 2); // a guess at depth 2 without one at depth 1
  CHECK_THROWS_WITH_AS((void)sd::next_step(r2, tokens), doctest::Contains("none at depth 1"), apgen::invalid_token);
  auto r3 = row;
  r3[2] = 999;
  CHECK_THROWS_AS((void)sd::next_step(r3, tokens), apgen::invalid_token);
  // A contradiction with nothing to undo: two 4s in row 1 as givens.
  auto r4 = row;
  r4[2] = sd::state_tokens::given(4);
  CHECK_THROWS_WITH_AS((void)sd::next_step(r4, tokens), doctest::Contains("no solution"), apgen::invalid_argument);
  // A process that needs more depth than the vocabulary names says so.
  CHECK_THROWS_AS((void)sd::trajectory(sd::parse_line(hard), sd::state_tokens(2)), apgen::capacity_exceeded);
}

TEST_CASE("sudoku: the teacher's records replay through apply_transition, step by step, to the solution") {
  const std::vector<sd::grid> puzzles{sd::parse_line(hard), sd::parse_line(easy)};
  const auto records = sd::teacher(puzzles);
  const sd::state_tokens tokens;
  std::vector<std::size_t> per_puzzle(2);
  for (std::size_t k = 0; k < records.size(); ++k) {
    const auto& r = records[k];
    REQUIRE(r.trajectory.has_value());
    ++per_puzzle[static_cast<std::size_t>(*r.trajectory)];
    CHECK(apgen::train::apply(r, sd::state_tokens::mask()) == r.next);
    CHECK(r.encoding.features.size() == 7);
    CHECK(r.encoding.allowed.size() == sd::slots);
    for (std::size_t p = 0; p < sd::slots; ++p) CHECK(r.insert[p] + r.del[p] == 0);
  }
  // Each trajectory is the direct process plus the recorded fixed point.
  CHECK(per_puzzle[0] == sd::trajectory(puzzles[0], tokens).steps() + 1);
  CHECK(per_puzzle[1] == sd::trajectory(puzzles[1], tokens).steps() + 1);
  // The last record of each puzzle (records come step by step, the rows of a batch interleaved) is the fixed point
  // on its solution.
  for (std::size_t t = 0; t < puzzles.size(); ++t) {
    std::size_t last = records.size();
    for (std::size_t k = 0; k < records.size(); ++k)
      if (*records[k].trajectory == static_cast<std::int64_t>(t)) last = k;
    REQUIRE(last < records.size());
    CHECK(records[last].next == records[last].x);
    CHECK(sd::decode(records[last].next, tokens) == sd::unique_solution(puzzles[t]));
  }
}

TEST_CASE("sudoku: direct records equal the generator teacher's, record for record") {
  const std::vector<sd::grid> puzzles{sd::parse_line(hard), sd::parse_line(easy)};
  const auto through_generator = sd::teacher(puzzles);
  const sd::state_encoder encoder;
  for (std::size_t t = 0; t < puzzles.size(); ++t) {
    std::vector<apgen::train::transition_record> expect, got;
    for (const auto& r : through_generator)
      if (*r.trajectory == static_cast<std::int64_t>(t)) expect.push_back(r);
    sd::direct_records(
        puzzles[t], encoder, [&](apgen::train::transition_record&& r) { got.push_back(std::move(r)); },
        static_cast<std::int64_t>(t));
    REQUIRE(got.size() == expect.size());
    for (std::size_t k = 0; k < got.size(); ++k) {
      CAPTURE(k);
      CHECK(got[k].x == expect[k].x);
      CHECK(got[k].y == expect[k].y);
      CHECK(got[k].remask == expect[k].remask);
      CHECK(got[k].unmask == expect[k].unmask);
      CHECK(got[k].next == expect[k].next);
      CHECK(got[k].encoding == expect[k].encoding);
      CHECK(got[k].step == expect[k].step);
    }
  }
}

TEST_CASE("sudoku: the oracle run as a denoiser through the generator solves every puzzle and halts") {
  const std::vector<sd::grid> puzzles{sd::parse_line(hard), sd::parse_line(easy)};
  const apgen::vocabulary v = sd::state_tokens().make_vocabulary();
  apgen::canvas c(v, puzzles.size(), sd::slots);
  for (std::size_t r = 0; r < puzzles.size(); ++r) c.assign(r, sd::encode(puzzles[r]));
  auto gen = apgen::make_generator(sd::oracle(), apgen::schedules::any_process<>(),
                                   apgen::generator_options{.encoder = apgen::row_encoder(sd::state_encoder())});
  const auto result = gen.generate(c);
  for (std::size_t r = 0; r < puzzles.size(); ++r) {
    CHECK(result.rows[r].reason == apgen::stop_reason::fixed_point);
    const std::vector<apgen::token_id> row(c.row(r).begin(), c.row(r).end());
    CHECK(sd::solves(puzzles[r], sd::decode(row, sd::state_tokens())));
  }
}

TEST_CASE("sudoku: the harness counts failures and refuses bad puzzle sets and models") {
  const std::vector<sd::grid> puzzles{sd::parse_line(easy), sd::parse_line(hard)};
  const std::size_t v = sd::state_tokens().size();
  // A model that keeps every MASK masked: each row is a fixed point at once, unsolved.
  auto idle = apgen::make_denoiser(
      v,
      [](std::span<const apgen::token_id>, apgen::matrix_view<float> tok, apgen::matrix_view<float> ctl) {
        for (std::size_t i = 0; i < tok.rows(); ++i) {
          tok(i, 10) = 1.0f; // f1.0 in a value slot; a note slot chooses inside its own set
          ctl(i, apgen::control_remask) = 30.0f;
        }
      },
      apgen::heads::tokens_and_controls);
  const auto rep = sd::evaluate(idle, puzzles);
  CHECK(rep.solved.successes == 0);
  CHECK(rep.stopped_unsolved == 2);
  CHECK(rep.step_capped == 0);
  // A model that never stops changing a row runs into the step cap.
  auto flicker = apgen::make_denoiser(
      v,
      [](std::span<const apgen::token_id> row, apgen::matrix_view<float> tok, apgen::matrix_view<float> ctl) {
        for (std::size_t i = 0; i < row.size(); ++i) {
          tok(i, 10) = 1.0f;
          const bool given = i % 2 == 0 && row[i] >= 1 && row[i] <= 9;
          ctl(i, apgen::control_remask) = given || row[i] == 0 ? -30.0f : 30.0f; // fill, then remask, forever
        }
      },
      apgen::heads::tokens_and_controls);
  const auto capped = sd::evaluate(flicker, puzzles, {.step_cap = 7});
  CHECK(capped.step_capped == 2);
  CHECK(capped.steps == std::vector<std::uint32_t>{7, 7});
  // The teacher solves both; the progress hook hears of each batch (here one puzzle each).
  std::vector<std::pair<std::size_t, std::size_t>> heard;
  sd::evaluation_options one_by_one;
  one_by_one.batch = 1;
  one_by_one.on_progress = [&heard](std::size_t done, std::size_t all) { heard.emplace_back(done, all); };
  const auto ok = sd::evaluate(sd::oracle(), puzzles, one_by_one);
  CHECK(heard == std::vector<std::pair<std::size_t, std::size_t>>{{1, 2}, {2, 2}});
  CHECK(ok.solved.successes == 2);
  CHECK(ok.steps_quantile(1.0) == sd::trajectory(puzzles[1], sd::state_tokens()).steps() + 1);

  sd::grid open = sd::parse_line(easy);
  for (std::size_t i = 0; i < 40; ++i) open[i] = 0;
  CHECK_THROWS_WITH_AS((void)sd::evaluate(sd::oracle(), {puzzles[0], open}),
                       "puzzle 2: the puzzle has more than one solution", apgen::invalid_argument);
  CHECK_THROWS_AS((void)sd::evaluate(sd::oracle(4), puzzles), apgen::shape_mismatch); // depth 4 vs 12 states
}

TEST_CASE("proportion: the Wilson interval") {
  const apgen::proportion p{990, 1000};
  CHECK(p.rate() == doctest::Approx(0.99));
  CHECK(p.lower() == doctest::Approx(0.98170).epsilon(1e-4));
  CHECK(p.upper() == doctest::Approx(0.99457).epsilon(1e-4));
  const apgen::proportion all{100, 100};
  CHECK(all.upper() == doctest::Approx(1.0));
  CHECK(all.lower() == doctest::Approx(0.96301).epsilon(1e-4));
  CHECK(apgen::proportion{}.lower() == 0.0);
}

TEST_CASE("sudoku: a process picture is well formed, frames the cells each step wrote and marks backtracks") {
  const sd::state_tokens tokens;
  const auto tr = sd::trajectory(sd::parse_line(hard), tokens);
  REQUIRE(tr.count(sd::step_kind::backtrack) > 0);
  std::size_t written = 0, undone = 0;
  for (std::size_t t = 1; t < tr.states.size(); ++t)
    for (std::size_t i = 0; i < sd::cells; ++i) {
      const auto before = tr.states[t - 1][2 * i], now = tr.states[t][2 * i];
      written += before != now && now != sd::state_tokens::mask();
      undone += before != now && now == sd::state_tokens::mask();
    }
  REQUIRE(undone > 0);
  std::ostringstream out;
  sd::write_process_svg(out, tr.states, {}, tokens, {.columns = 8, .max_states = 1000, .cell = 16});
  const std::string svg = out.str();
  const auto rep = apgen::testing::check_xml(svg);
  INFO(rep.error);
  REQUIRE(rep.well_formed);
  CHECK(rep.has_text("start"));
  CHECK(rep.has_text("step " + std::to_string(tr.states.size() - 1)));
  // One yellow frame per written cell (plus the legend's sample), one light-red cell per backtracked one (plus the
  // legend's).
  std::size_t frames = 0, red = 0;
  for (const auto& [where, value] : rep.attributes) {
    frames += where == "rect/stroke" && value == "#f5c400";
    red += where == "rect/fill" && value == "#ffd0d0";
  }
  CHECK(frames == written + 1);
  CHECK(red == undone + 1);
  // The limit: states past max_states are counted, not drawn.
  std::ostringstream few;
  sd::write_process_svg(few, tr.states, {}, tokens, {.max_states = 3});
  const auto short_rep = apgen::testing::check_xml(few.str());
  REQUIRE(short_rep.well_formed);
  CHECK(short_rep.has_text(std::to_string(tr.states.size() - 3) + " more states not drawn"));
  // What is not a state is named.
  std::vector<std::vector<apgen::token_id>> bad = {tr.states[0], std::vector<apgen::token_id>(5, 0)};
  CHECK_THROWS_WITH_AS(sd::write_process_svg(few, bad, {}, tokens), doctest::Contains("state 1 has 5 slots"),
                       apgen::invalid_argument);
  bad[1] = tr.states[0];
  bad[1][7] = 9999;
  CHECK_THROWS_WITH_AS(sd::write_process_svg(few, bad, {}, tokens), doctest::Contains("state 1 holds token id 9999"),
                       apgen::invalid_argument);
  const std::vector<std::string> one_caption = {"only one"};
  CHECK_THROWS_AS(sd::write_process_svg(few, bad, one_caption, tokens), apgen::invalid_argument);
}
