// Two-sided Dyck-k: the membership checker, the exact word counter, the learnable insertion process (every move a
// function of the row, every output a Dyck word, short words all reachable, bad rows named) and the shipped models
// (they load, a sample of the process model is all Dyck words, a file of the wrong model or a cut file is refused).
#include <apgen/apgen.hpp>
#include <apgen/tasks/dyck/count.hpp>
#include <apgen/tasks/dyck/learned.hpp>

#include <doctest/doctest.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace {
namespace dyck = apgen::tasks::dyck;
using word = std::vector<apgen::token_id>;

word letters(const apgen::vocabulary& v, const std::string& text) {
  word w;
  for (const char ch : text) w.push_back(v.id(std::string(1, ch)));
  return w;
}

// Every word of `length` letters over 2k letters that the checker accepts (brute force).
std::set<word> brute_force(std::size_t k, std::size_t length) {
  std::set<word> out;
  std::size_t total = 1;
  for (std::size_t i = 0; i < length; ++i) total *= 2 * k;
  for (std::size_t m = 0; m < total; ++m) {
    word w(length);
    std::size_t x = m;
    for (auto& t : w) {
      t = dyck::first_letter + static_cast<apgen::token_id>(x % (2 * k));
      x /= 2 * k;
    }
    if (dyck::is_two_sided_dyck(w, k)) out.insert(w);
  }
  return out;
}

dyck::sampling_options rows_of(std::size_t max_letters, std::uint64_t first_key = 0) {
  dyck::sampling_options o;
  o.max_letters = max_letters;
  o.first_key = first_key;
  return o;
}

dyck::process_options setting(std::size_t k, std::size_t max_length, double stop, double rate) {
  dyck::process_options o;
  o.pairs = k;
  o.max_length = max_length;
  o.stop = stop;
  o.rate = rate;
  return o;
}

const std::string models_dir = APGEN_DATA_DIR "/../models/dyck";
} // namespace

TEST_SUITE("dyck") {
  TEST_CASE("dyck: the checker cancels a letter next to its inverse in either order") {
    const auto v = dyck::make_vocabulary(2);
    CHECK(dyck::is_two_sided_dyck(letters(v, ""), 2));
    CHECK(dyck::is_two_sided_dyck(letters(v, "()"), 2));
    CHECK(dyck::is_two_sided_dyck(letters(v, ")("), 2));
    CHECK(dyck::is_two_sided_dyck(letters(v, "([])"), 2));
    CHECK(dyck::is_two_sided_dyck(letters(v, "]()["), 2));
    CHECK(dyck::is_two_sided_dyck(letters(v, "(])["), 2) == false);
    CHECK(dyck::is_two_sided_dyck(letters(v, "([)]"), 2) == false);
    CHECK(dyck::is_two_sided_dyck(letters(v, "(("), 2) == false);
    CHECK(dyck::is_two_sided_dyck(letters(v, "("), 2) == false);
    CHECK(dyck::is_two_sided_dyck(word{0, 1}, 2) == false);         // MASK and BOS are not letters
    CHECK(dyck::is_two_sided_dyck(word{2 + 4, 2 + 5}, 2) == false); // letters of k = 3, checked as k = 2
  }

  TEST_CASE("dyck: count_words and all_words agree with brute force") {
    for (std::size_t k = 1; k <= 3; ++k)
      for (std::size_t n = 0; n <= (k == 3 ? 6u : 8u); ++n) {
        const auto expected = brute_force(k, n);
        CAPTURE(k);
        CAPTURE(n);
        CHECK(dyck::count_words(k, n) == expected.size());
        const auto listed = dyck::all_words(k, n);
        CHECK(std::set<word>(listed.begin(), listed.end()) == expected);
        CHECK(listed.size() == expected.size());
      }
    // Walks back to the root of the 4-regular tree (OEIS A035610) and of the line (central binomials).
    const std::uint64_t k2[] = {1, 4, 28, 232, 2092, 19864, 195352};
    for (std::size_t i = 0; i < 7; ++i) CHECK(dyck::count_words(2, 2 * i) == k2[i]);
    CHECK(dyck::count_words(1, 20) == 184756);
    CHECK(dyck::count_words(2, 7) == 0);
  }

  TEST_CASE("dyck: counts that do not fit and lists that are too long are refused") {
    CHECK(dyck::count_words(2, 38) > 0);
    CHECK_THROWS_WITH_AS(static_cast<void>(dyck::count_words(2, 40)), doctest::Contains("does not fit in 64 bits"),
                         apgen::invalid_argument);
    CHECK_THROWS_AS(static_cast<void>(dyck::count_words(0, 2)), apgen::invalid_argument);
    CHECK_THROWS_WITH_AS(static_cast<void>(dyck::all_words(2, 10, 1000)), doctest::Contains("more than the limit"),
                         apgen::invalid_argument);
  }

  TEST_CASE("dyck process: every move is a function of the row, and every run ends on a Dyck word") {
    for (std::size_t k : {2u, 3u}) {
      const auto v = dyck::make_process_vocabulary(k);
      const auto o = setting(k, 16, 0.12, 0.3);
      std::size_t records = 0;
      std::set<dyck::process_phase> phases;
      dyck::process_teacher(v, o, 600, 3,
                            [&](apgen::train::transition_record&& r) {
                              ++records;
                              const auto phase = dyck::process_phase_of(r.x, k);
                              phases.insert(phase);
                              const auto moves = dyck::process_moves(r.x, k, phase);
                              REQUIRE(moves.size() == r.x.size());
                              for (std::size_t i = 0; i < r.x.size(); ++i) {
                                CAPTURE(i);
                                CHECK(static_cast<bool>(r.remask[i]) == moves[i].remask);
                                CHECK(static_cast<bool>(r.del[i]) == moves[i].erase);
                                CHECK(static_cast<bool>(r.insert[i]) == moves[i].insert);
                                if (r.x[i] == v.mask() && !moves[i].erase && !moves[i].remask) {
                                  if (moves[i].draw)
                                    CHECK((r.y[i] >= dyck::first_letter && r.y[i] <= dyck::end_token(k)));
                                  else
                                    CHECK(r.y[i] == moves[i].token);
                                }
                              }
                            },
                            {.skip_unchanged = false});
      CHECK(records > 600 * 4);
      CHECK(phases.size() == 6); // grow, choose, pair, finish, clean, done all occur
      const auto runs =
          dyck::sample_process(dyck::process_oracle(v, o), k, 2000, 5, rows_of(16), apgen::sampling::greedy{});
      std::size_t longest = 0;
      for (const auto& s : runs) {
        REQUIRE(s.finished);
        CHECK(s.valid(k));
        longest = std::max(longest, s.word.size());
      }
      CHECK(longest <= 16);
      CHECK(longest >= 10);
    }
  }

  TEST_CASE("dyck process: every Dyck-2 word of length <= 6 is reached") {
    const auto v = dyck::make_process_vocabulary(2);
    const auto o = setting(2, 6, 0.2, 0.4);
    std::set<word> seen;
    for (const auto& s :
         dyck::sample_process(dyck::process_oracle(v, o), 2, 40000, 9, rows_of(6), apgen::sampling::greedy{}))
      seen.insert(s.word);
    std::size_t expected = 0;
    for (std::size_t n = 0; n <= 6; n += 2) expected += dyck::count_words(2, n);
    CHECK(seen.size() == expected);
  }

  TEST_CASE("dyck process: rows it cannot reach are named") {
    const std::size_t k = 2;
    const auto v = dyck::make_process_vocabulary(k);
    const auto hole = dyck::hole_token(k), end = dyck::end_token(k), open = v.id("("), close = v.id(")");
    CHECK(dyck::process_phase_of(word{1}, k) == dyck::process_phase::grow);
    CHECK(dyck::process_phase_of(word{1, 0, open, 0}, k) == dyck::process_phase::choose);
    CHECK(dyck::process_phase_of(word{1, open, 0}, k) == dyck::process_phase::pair);
    CHECK(dyck::process_phase_of(word{1, end, open, hole, close}, k) == dyck::process_phase::finish);
    CHECK(dyck::process_phase_of(word{1, end, open, 0, close}, k) == dyck::process_phase::clean);
    CHECK(dyck::process_phase_of(word{1, end, open, close}, k) == dyck::process_phase::done);
    CHECK_THROWS_WITH_AS(static_cast<void>(dyck::process_phase_of(word{open, close}, k)),
                         doctest::Contains("must start with BOS"), apgen::invalid_token);
    CHECK_THROWS_WITH_AS(static_cast<void>(dyck::process_phase_of(word{1, open, end}, k)),
                         doctest::Contains("only right after BOS at position 2"), apgen::invalid_token);
    CHECK_THROWS_WITH_AS(static_cast<void>(dyck::process_phase_of(word{1, 99}, k)), doctest::Contains("position 1"),
                         apgen::invalid_token);
    CHECK_THROWS_WITH_AS(static_cast<void>(dyck::process_moves(word{1, open, 0, 0}, k, dyck::process_phase::pair)),
                         doctest::Contains("position 3"), apgen::invalid_token);
    CHECK_THROWS_WITH_AS(static_cast<void>(dyck::process_word(word{1, open, hole, close}, k)),
                         doctest::Contains("not finished, position 2"), apgen::invalid_token);
    CHECK(dyck::process_word(word{1, end, open, close}, k) == word{open, close});
    CHECK_THROWS_AS(dyck::process_oracle(dyck::make_process_vocabulary(3), setting(2, 8, 0.1, 0.3)),
                    apgen::shape_mismatch);
    CHECK_THROWS_AS(dyck::process_oracle(v, setting(2, 8, 2.0, 0.3)), apgen::invalid_argument);
    dyck::sampling_options bad;
    bad.starts = {word{open, 1}};
    CHECK_THROWS_AS(
        static_cast<void>(dyck::sample_process(dyck::process_oracle(v, {}), k, 1, 0, bad, apgen::sampling::greedy{})),
        apgen::invalid_token);
  }

  TEST_CASE("dyck: the shipped models load, and the process model's samples are Dyck words") {
    for (std::size_t k : {2u, 3u}) {
      CAPTURE(k);
      const auto pv = dyck::make_process_vocabulary(k);
      const auto av = dyck::make_arm_vocabulary(k);
      const std::string stem = models_dir + "/dyck" + std::to_string(k);
      const auto pw = dyck::load_model(stem + "-process.safetensors", dyck::process_model_config(pv));
      const auto aw = dyck::load_model(stem + "-arm.safetensors", dyck::arm_model_config(av));
      const auto runs = dyck::sample_process(apgen::nn::transformer(pw), k, 300, 77, rows_of(256, 123456));
      std::size_t nonempty = 0;
      for (const auto& s : runs) {
        REQUIRE(s.finished);
        CHECK(s.valid(k));
        nonempty += !s.word.empty();
      }
      CHECK(nonempty > 100); // a sample, not a model that always stops at once
      const auto arm = dyck::sample_arm(apgen::nn::transformer(aw), k, 50, 77);
      CHECK(arm.size() == 50);
      // The ARM's file is not a process model, and a cut file is refused.
      CHECK_THROWS_WITH_AS(
          static_cast<void>(dyck::load_model(stem + "-arm.safetensors", dyck::process_model_config(pv))),
          doctest::Contains("not this Dyck model"), apgen::shape_mismatch);
      const auto cut =
          std::filesystem::temp_directory_path() / ("apgen-dyck-cut-" + std::to_string(k) + ".safetensors");
      std::filesystem::copy_file(stem + "-process.safetensors", cut, std::filesystem::copy_options::overwrite_existing);
      std::filesystem::resize_file(cut, std::filesystem::file_size(cut) / 2);
      CHECK_THROWS(static_cast<void>(dyck::load_model(cut.string(), dyck::process_model_config(pv))));
      std::filesystem::remove(cut);
    }
  }
}
