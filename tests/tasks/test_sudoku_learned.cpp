// The learned Sudoku model's interface: what the state encoder shows it and lets it write (features and allowed sets
// that follow the open depth), the batch source it trains on, and loading a model file with clear errors for one of
// another shape or a damaged file.
#include <apgen/apgen.hpp>
#include <apgen/tasks/sudoku/learned.hpp>
#include <apgen/tasks/sudoku/oracle.hpp>
#include <apgen/tasks/sudoku/step_accuracy.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace {
namespace sd = apgen::tasks::sudoku;

// Needs two guesses, with backtracking (the process test's puzzle).
const char* const hard = "4.....8.5.3..........7......2.....6.....8.4......1.......6.3.7.5..2.....1.4......";

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("apgen_sudoku_learned_" + name)).string();
}

bool allows(const apgen::feature_schema& s, std::uint16_t cls, apgen::token_id t) {
  return s.allows(cls, t);
}

} // namespace

TEST_CASE("sudoku encoder: features take each token apart and the allowed sets follow the open depth") {
  const sd::state_tokens tokens;
  const sd::state_encoder encoder;
  const auto schema = encoder.schema();
  CHECK(schema.feature_vocab_sizes == std::vector<std::size_t>{9, 9, 9, 2, 5, 10, 3});
  // A state at depth 2: a guess at depth 1 on cell 1, one at depth 2 on cell 2, a fill at depth 1 on cell 3, a
  // given on cell 0, the depth-1 guess's note on cell 1.
  std::vector<apgen::token_id> row(sd::slots, sd::state_tokens::mask());
  row[0] = sd::state_tokens::given(4);
  row[2] = tokens.guess(2, 1);
  row[3] = tokens.note(1, 0);
  row[4] = tokens.guess(6, 2);
  row[6] = tokens.fill(9, 1);
  CHECK(sd::open_depth(row, tokens) == 2);
  apgen::row_encoding e;
  encoder.encode(row, e);
  REQUIRE(e.features.size() == 7);
  // kind, digit, and whether it belongs to the open depth
  CHECK(e.features[4][0] == static_cast<int>(sd::slot_kind::given));
  CHECK(e.features[5][0] == 4);
  CHECK(e.features[6][0] == 0);
  CHECK(e.features[4][4] == static_cast<int>(sd::slot_kind::guess));
  CHECK(e.features[6][4] == 1);
  CHECK(e.features[6][2] == 2);
  CHECK(e.features[6][6] == 2);
  CHECK(e.features[4][3] == static_cast<int>(sd::slot_kind::note));
  CHECK(e.features[5][3] == 1);
  CHECK(e.features[4][8] == static_cast<int>(sd::slot_kind::mask));
  CHECK(e.features[5][8] == 0);
  CHECK(e.features[3][8] == 0);
  CHECK(e.features[3][9] == 1);
  // An undecided value slot may take a depth-2 fill or the guess opening depth 3, nothing older or deeper.
  const auto value = e.allowed[8];
  CHECK(allows(schema, value, tokens.fill(5, 2)));
  CHECK(allows(schema, value, tokens.guess(5, 3)));
  CHECK_FALSE(allows(schema, value, tokens.fill(5, 1)));
  CHECK_FALSE(allows(schema, value, tokens.guess(5, 2)));
  CHECK_FALSE(allows(schema, value, tokens.note(5, 1)));
  // A note slot the refutations of depth 1, the depth-2 guess's.
  const auto note = e.allowed[9];
  CHECK(allows(schema, note, tokens.note(3, 1)));
  CHECK_FALSE(allows(schema, note, tokens.note(3, 0)));
  CHECK_FALSE(allows(schema, note, tokens.fill(3, 2)));
  // A given only itself.
  CHECK(allows(schema, e.allowed[0], sd::state_tokens::given(4)));
  CHECK_FALSE(allows(schema, e.allowed[0], sd::state_tokens::given(5)));
  // At the depth bound no guess can be written.
  std::vector<apgen::token_id> deep(sd::slots, sd::state_tokens::mask());
  for (std::size_t k = 1; k <= tokens.max_depth(); ++k) deep[2 * k] = tokens.guess(1, k);
  encoder.encode(deep, e);
  for (int v = 1; v <= 9; ++v) CHECK_FALSE(allows(schema, e.allowed[0], tokens.guess(v, tokens.max_depth())));
  CHECK(allows(schema, e.allowed[0], tokens.fill(1, tokens.max_depth())));
  CHECK_THROWS_AS(encoder.encode(std::vector<apgen::token_id>(10, 0), e), apgen::shape_mismatch);
  row[5] = static_cast<apgen::token_id>(tokens.size());
  CHECK_THROWS_AS(encoder.encode(row, e), apgen::invalid_token);
}

TEST_CASE("sudoku encoder: every token the teacher writes lies in its slot's allowed set") {
  const sd::state_tokens tokens;
  const sd::state_encoder encoder;
  const auto schema = encoder.schema();
  std::size_t written = 0;
  sd::direct_records(sd::parse_line(hard), encoder, [&](apgen::train::transition_record&& r) {
    for (std::size_t p = 0; p < sd::slots; ++p) {
      if (r.x[p] != sd::state_tokens::mask() || r.next[p] == sd::state_tokens::mask()) continue;
      ++written;
      CHECK(allows(schema, r.encoding.allowed[p], r.next[p]));
    }
  });
  CHECK(written > 60);
}

TEST_CASE("sudoku batch source: a batch is a function of the step, and every example teaches something") {
  const std::vector<sd::grid> puzzles{sd::parse_line(hard)};
  const auto source = sd::symmetry_augmented_source(puzzles, 5);
  std::vector<apgen::train::example> a, b, c;
  source(3, 8, a);
  source(3, 8, b);
  source(4, 8, c);
  REQUIRE(a.size() == 8);
  bool same = true, differs = false;
  for (std::size_t k = 0; k < a.size(); ++k) {
    same = same && a[k].input == b[k].input && a[k].targets == b[k].targets && a[k].remask == b[k].remask;
    differs = differs || a[k].input != c[k].input;
    CHECK(a[k].features.size() == 7);
    CHECK(a[k].input.size() == sd::slots);
  }
  CHECK(same);
  CHECK(differs);
  CHECK_THROWS_AS((void)sd::symmetry_augmented_source({}, 5), apgen::invalid_argument);
  const sd::grid empty{}; // many solutions: not a puzzle to learn from
  CHECK_THROWS_AS((void)sd::symmetry_augmented_source({empty}, 5), apgen::invalid_argument);
}

TEST_CASE("sudoku model files: a model of the state layout loads; another shape or a damaged file is refused") {
  sd::learned_setup small;
  small.d_model = 16;
  small.n_layers = 1;
  small.n_heads = 2;
  small.d_ff = 32;
  auto w = apgen::nn::transformer_weights::random(sd::model_config(small), 3);
  const std::string good = temp_path("good.safetensors");
  apgen::nn::save_transformer(good, w);
  auto loaded = sd::load_model(good);
  CHECK(loaded.config.d_model == 16);
  CHECK(loaded.parameter_count() == w.parameter_count());

  auto other = sd::model_config(small);
  other.feature_vocab_sizes = {9, 9, 9, 2};
  auto wo = apgen::nn::transformer_weights::random(other, 3);
  const std::string old_layout = temp_path("old_layout.safetensors");
  apgen::nn::save_transformer(old_layout, wo);
  CHECK_THROWS_WITH_AS((void)sd::load_model(old_layout), doctest::Contains("feature_vocab_sizes"),
                       apgen::shape_mismatch);

  other = sd::model_config(small);
  other.vocab_size = 20;
  auto wv = apgen::nn::transformer_weights::random(other, 3);
  const std::string wrong_vocab = temp_path("wrong_vocab.safetensors");
  apgen::nn::save_transformer(wrong_vocab, wv);
  CHECK_THROWS_WITH_AS((void)sd::load_model(wrong_vocab), doctest::Contains("vocab_size"), apgen::shape_mismatch);

  // Truncated: the header promises tensors the file no longer holds.
  const auto bytes = std::filesystem::file_size(good);
  std::filesystem::copy_file(good, temp_path("cut.safetensors"), std::filesystem::copy_options::overwrite_existing);
  std::filesystem::resize_file(temp_path("cut.safetensors"), bytes / 2);
  CHECK_THROWS_AS((void)sd::load_model(temp_path("cut.safetensors")), apgen::error);
  {
    std::ofstream junk(temp_path("junk.safetensors"), std::ios::binary);
    junk << "not a model at all";
  }
  CHECK_THROWS_AS((void)sd::load_model(temp_path("junk.safetensors")), apgen::error);
  CHECK_THROWS_AS((void)sd::load_model(temp_path("absent.safetensors")), apgen::error);
  for (const char* f : {"good", "old_layout", "wrong_vocab", "cut", "junk"})
    std::remove(temp_path(std::string(f) + ".safetensors").c_str());
}

TEST_CASE("sudoku step accuracy: the teacher takes its own steps; an untrained model does not") {
  const std::vector<sd::grid> puzzles{sd::parse_line(hard)};
  const auto teacher = sd::step_accuracy(sd::oracle(), puzzles, {.batch = 7});
  const std::size_t states = sd::trajectory(puzzles[0], sd::state_tokens()).steps() + 1;
  CHECK(teacher.steps.trials == states);
  CHECK(teacher.steps.successes == states);
  CHECK(teacher.by_kind[static_cast<std::size_t>(sd::step_kind::backtrack)].trials > 0);
  CHECK(teacher.by_kind[static_cast<std::size_t>(sd::step_kind::branch)].trials > 0);
  CHECK(teacher.by_kind[static_cast<std::size_t>(sd::step_kind::solved)].trials == 1);
  CHECK(teacher.written.trials > 60);
  CHECK(teacher.written.successes == teacher.written.trials);
  CHECK(teacher.chosen.successes == teacher.chosen.trials);
  CHECK(teacher.held_back.trials == teacher.written.trials);
  CHECK(teacher.held_back.successes == 0);
  // Both kinds of fill occur on this puzzle, and they partition the teacher's writes.
  CHECK(teacher.written_by_single[0].trials > 0);
  CHECK(teacher.written_by_single[1].trials > 0);
  CHECK(teacher.written_by_single[0].trials + teacher.written_by_single[1].trials == teacher.written.trials);
  sd::learned_setup small;
  small.d_model = 16;
  small.n_layers = 1;
  small.d_ff = 32;
  small.peer_heads = false; // heads of 4 dimensions cannot hold the nine-way code
  const auto untrained = sd::step_accuracy(apgen::nn::transformer(sd::initial_weights(small, 2)), puzzles);
  CHECK(untrained.steps.trials == states);
  CHECK(untrained.steps.successes < states);
  CHECK(untrained.written.successes < untrained.written.trials);
  CHECK(untrained.chosen.successes < untrained.chosen.trials);
  // A write is a chosen token the remask bit let through: never more writes than choices and unmasked slots.
  CHECK(untrained.written.successes <= untrained.chosen.successes);
  CHECK(untrained.written.successes <= untrained.held_back.trials - untrained.held_back.successes);
  CHECK_THROWS_AS((void)sd::step_accuracy(sd::oracle(), puzzles, {.batch = 0}), apgen::invalid_argument);
}

TEST_CASE("sudoku initial weights: heads 0, 1 and 2 start attending within the row, column and box") {
  const sd::learned_setup s;
  const auto w = sd::initial_weights(s, 4);
  const std::size_t d = s.d_model, dh = d / s.n_heads;
  for (std::size_t f = 0; f < 3; ++f) {
    CAPTURE(f);
    const auto& e = w.feat_embed[f];
    for (const auto& layer : w.layers) {
      // The first nine query rows of head f read feature f's embedding as its one-hot index; keys likewise.
      const Eigen::MatrixXf q = layer.qkv_w.middleRows(static_cast<Eigen::Index>(f * dh), 9) * e.transpose();
      const Eigen::MatrixXf k = layer.qkv_w.middleRows(static_cast<Eigen::Index>(d + f * dh), 9) * e.transpose();
      const float peer = q(0, 0);
      CHECK(peer > 0);
      for (Eigen::Index a = 0; a < 9; ++a)
        for (Eigen::Index b = 0; b < 9; ++b) {
          CHECK(std::abs(q(a, b) - (a == b ? peer : 0.0f)) < 1e-3f * peer);
          CHECK(std::abs(k(a, b) - (a == b ? peer : 0.0f)) < 1e-3f * peer);
        }
    }
  }
  // Without the option the weights are the plain random ones.
  sd::learned_setup plain = s;
  plain.peer_heads = false;
  auto r = sd::initial_weights(plain, 4);
  auto same = apgen::nn::transformer_weights::random(sd::model_config(plain), 4);
  CHECK(r.layers[0].qkv_w == same.layers[0].qkv_w);
  sd::learned_setup narrow = s;
  narrow.n_heads = 2;
  CHECK_THROWS_AS((void)sd::initial_weights(narrow, 4), apgen::invalid_argument);
}

TEST_CASE("sudoku solution targets: on the solution's path every open cell is a target, its solution digit") {
  const sd::state_tokens tokens;
  const sd::grid puzzle = sd::parse_line(hard);
  const sd::grid solution = sd::unique_solution(puzzle);
  const sd::state_encoder encoder;
  auto schema = std::make_shared<const apgen::feature_schema>(encoder.schema());
  std::size_t on_path = 0, off_path = 0;
  sd::direct_records(puzzle, encoder, [&](apgen::train::transition_record&& r) {
    apgen::train::example plain = apgen::train::process_example(r, sd::state_tokens::mask(), 1.0, 1.0, schema);
    apgen::train::example dense = plain;
    sd::add_solution_targets(dense, solution, tokens);
    bool agrees = true;
    for (std::size_t i = 0; i < sd::cells; ++i)
      agrees = agrees && (r.x[2 * i] == sd::state_tokens::mask() || tokens.decode(r.x[2 * i]).digit == solution[i]);
    if (!agrees) { // a wrong branch: nothing added
      ++off_path;
      CHECK(dense.targets == plain.targets);
      return;
    }
    ++on_path;
    const std::size_t depth = sd::open_depth(r.x, tokens);
    for (std::size_t p = 0; p < sd::slots; ++p) {
      if (plain.targets[p] >= 0) { // the step's own targets are kept
        CHECK(dense.targets[p] == plain.targets[p]);
      } else if (p % 2 == 0 && r.x[p] == sd::state_tokens::mask()) {
        CHECK(dense.targets[p] == tokens.fill(solution[p / 2], depth));
        CHECK(schema->allows(dense.allowed[p], dense.targets[p])); // within the slot's allowed set
      } else {
        CHECK(dense.targets[p] == -1); // decided slots and notes get none
      }
    }
  });
  CHECK(on_path > 0);
  CHECK(off_path > 0); // the puzzle needs backtracking, so some states are on wrong branches
  // The batch source adds them when asked.
  sd::learned_setup dense_setup;
  dense_setup.solution_targets = true;
  std::vector<apgen::train::example> plain_batch, dense_batch;
  sd::symmetry_augmented_source({puzzle}, 5)(0, 16, plain_batch);
  sd::symmetry_augmented_source({puzzle}, 5, dense_setup)(0, 16, dense_batch);
  std::size_t plain_targets = 0, dense_targets = 0;
  for (std::size_t k = 0; k < 16; ++k) {
    CHECK(plain_batch[k].input == dense_batch[k].input);
    for (auto t : plain_batch[k].targets) plain_targets += t >= 0;
    for (auto t : dense_batch[k].targets) dense_targets += t >= 0;
  }
  CHECK(dense_targets > 2 * plain_targets);
  // write_weight weighs the remask loss at the slots each step writes, and leaves the rest at 1.
  sd::learned_setup weighted_setup;
  weighted_setup.write_weight = 6.0;
  std::vector<apgen::train::example> weighted_batch;
  sd::symmetry_augmented_source({puzzle}, 5, weighted_setup)(0, 16, weighted_batch);
  std::size_t written = 0;
  for (std::size_t k = 0; k < 16; ++k) {
    const auto& e = weighted_batch[k];
    CHECK(e.input == plain_batch[k].input);
    CHECK(plain_batch[k].control_position_weights.empty());
    REQUIRE(e.control_position_weights.size() == e.input.size());
    for (std::size_t p = 0; p < e.input.size(); ++p) {
      const bool writes = e.input[p] == sd::state_tokens::mask() && e.remask[p] == 0;
      CHECK(e.control_position_weights[p] == (writes ? 6.0f : 1.0f));
      written += writes;
    }
  }
  CHECK(written > 0);
}
