// Transition records and trajectory datasets: the replay that checks a record, the JSON Lines reader and writer
// (the shared AP-MDM vectors read as a consistent dataset, a corrupted line is rejected by number, malformed lines
// are rejected with a message), and the teachers that record the parity and Dyck oracles' trajectories.
#include <apgen/apgen.hpp>
#include <apgen/tasks/dyck/teacher.hpp>
#include <apgen/tasks/parity/teacher.hpp>
#include <apgen/train/teacher.hpp>
#include <apgen/train/trajectory_io.hpp>
#include <apgen/train/transition_record.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

using apgen::train::transition_record;
namespace train = apgen::train;

const std::string shared_vectors = std::string(APGEN_TEST_DATA_DIR) + "/ap_mdm_transition.jsonl";

// A file in the temporary directory, removed when the guard goes; the name is unique to this process and call.
struct temp_file {
  std::string path;
  explicit temp_file(const std::string& stem) {
    static std::atomic<int> counter{0};
    const auto tick = std::chrono::steady_clock::now().time_since_epoch().count();
    path = (std::filesystem::temp_directory_path() /
            ("apgen_train_" + stem + "_" + std::to_string(tick) + "_" + std::to_string(counter++) + ".jsonl"))
               .string();
  }
  ~temp_file() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;
};

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string s; std::getline(in, s);) lines.push_back(s);
  return lines;
}

void write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path, std::ios::binary);
  for (const auto& s : lines) out << s << '\n';
}

// Reads every record of `text` (a dataset held in memory, named "mem.jsonl" in messages).
std::vector<transition_record> read_text(const std::string& text, train::trajectory_reader_options opt = {}) {
  std::istringstream in(text);
  train::trajectory_reader reader(in, "mem.jsonl", opt);
  std::vector<transition_record> out;
  for (transition_record r; reader.next(r);) out.push_back(r);
  return out;
}

// A record of Algorithm 1 on MASK = 0: 5 is remasked, the first MASK becomes 9 and inserts a MASK, the second is
// deleted, delete on the decoded 7 does nothing, the last MASK becomes 3 and inserts a MASK.
transition_record sample_record() {
  transition_record r;
  r.x = {5, 0, 0, 7, 0};
  r.y = {-1, 9, -1, -1, 3};
  r.remask = {1, 0, 0, 0, 0};
  r.insert = {0, 1, 0, 0, 1};
  r.del = {0, 0, 1, 1, 0};
  r.next = {0, 9, 0, 7, 3, 0};
  return r;
}

// Records grouped by trajectory, each in step order.
std::map<std::int64_t, std::vector<transition_record>> by_trajectory(const std::vector<transition_record>& records) {
  std::map<std::int64_t, std::vector<transition_record>> out;
  for (const auto& r : records) {
    REQUIRE(r.trajectory.has_value());
    REQUIRE(r.step.has_value());
    out[*r.trajectory].push_back(r);
  }
  for (auto& [id, list] : out)
    for (std::size_t k = 1; k < list.size(); ++k) REQUIRE(*list[k - 1].step < *list[k].step);
  return out;
}

const char* const good_header = R"({"format":"apgen.transitions/1","vocab_size":10,"mask":0})";
const char* const good_line =
    R"({"mask":0,"x":[5,0,0,7,0],"y":[-1,9,-1,-1,3],"remask":[1,0,0,0,0],"insert":[0,1,0,0,1],"delete":[0,0,1,1,0],"next":[0,9,0,7,3,0]})";

} // namespace

TEST_SUITE("train") {

  TEST_CASE("record: apply follows Algorithm 1 whatever the MASK id and the id range") {
    const auto r = sample_record();
    CHECK(train::apply(r, 0) == r.next);
    CHECK_NOTHROW(train::check_consistent(r, 0, 10, "sample"));
    CHECK_NOTHROW(train::check_consistent(r, 0, 0, "sample")); // vocabulary size unknown

    // The same transition with MASK = 42 and large ids: compaction makes the replay independent of both.
    transition_record big = r;
    const auto relabel = [](apgen::token_id t) { return t == 0 ? 42 : t * 1000; };
    for (auto& t : big.x) t = relabel(t);
    for (auto& t : big.next) t = relabel(t);
    for (auto& t : big.y) t = t < 0 ? t : t * 1000;
    CHECK(train::apply(big, 42) == big.next);
    CHECK_NOTHROW(train::check_consistent(big, 42, 10000, "big"));

    // Explicit unmask bits (masked diffusion): a MASK that is not unmasked stays MASK.
    transition_record mdm = r;
    mdm.unmask = {0, 0, 0, 0, 1};
    CHECK(train::apply(mdm, 0) == std::vector<int>{0, 0, 0, 7, 3, 0});
    CHECK(train::ap_mdm_unmask(r.x, r.remask, r.del, 0) == std::vector<std::uint8_t>{0, 1, 0, 0, 1});

    // apply throws library errors on records it cannot replay.
    transition_record shortened = r;
    shortened.insert.pop_back();
    CHECK_THROWS_WITH_AS((void)train::apply(shortened, 0), doctest::Contains("\"insert\" has 4 entries"),
                         apgen::shape_mismatch);
    transition_record no_target = r;
    no_target.y[1] = -1;
    CHECK_THROWS_WITH_AS((void)train::apply(no_target, 0), doctest::Contains("position 1 is unmasked"),
                         apgen::invalid_token);
  }

  TEST_CASE("record: check_consistent rejects a wrong next, naming the record and the first differing position") {
    auto r = sample_record();
    r.next[3] = 8;
    CHECK_THROWS_WITH_AS(train::check_consistent(r, 0, 10, "trajectories.jsonl record 17"),
                         doctest::Contains("trajectories.jsonl record 17: \"next\" disagrees"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(train::check_consistent(r, 0, 10, "rec"),
                         doctest::Contains("at position 3: \"next\" has 8, the transition gives 7"),
                         apgen::parse_error);
    r = sample_record();
    r.next.pop_back(); // a prefix of the right answer: the difference is past its end
    CHECK_THROWS_WITH_AS(
        train::check_consistent(r, 0, 10, "rec"),
        doctest::Contains("at position 5: \"next\" has nothing (past the end), the transition gives 0"),
        apgen::parse_error);
  }

  TEST_CASE("record: validate checks sizes, bits, id ranges and targets") {
    const auto expect_error = [](transition_record r, apgen::token_id mask, std::size_t V, const char* what) {
      CAPTURE(what);
      CHECK_THROWS_WITH_AS(train::check_consistent(r, mask, V, "rec 4"), doctest::Contains(what), apgen::parse_error);
    };
    auto r = sample_record();
    r.remask.push_back(0);
    expect_error(r, 0, 10, "rec 4: \"remask\" has 6 entries, \"x\" has 5");
    r = sample_record();
    r.del[2] = 2;
    expect_error(r, 0, 10, "\"delete\"[2] is 2, expected 0 or 1");
    r = sample_record();
    r.x[0] = 10;
    expect_error(r, 0, 10, "token \"x\"[0] = 10 is out of range [0, 10)");
    r = sample_record();
    r.x[0] = -3;
    expect_error(r, 0, 0, "token \"x\"[0] = -3 is negative");
    r = sample_record();
    r.next[1] = 12;
    expect_error(r, 0, 10, "token \"next\"[1] = 12 is out of range");
    r = sample_record();
    r.y[0] = -2;
    expect_error(r, 0, 10, "target \"y\"[0] = -2 is out of range [0, 10) and not -1");
    r = sample_record();
    r.y[4] = -1;
    expect_error(r, 0, 10, "position 4 is unmasked (a MASK with neither remask nor delete) but \"y\"[4] is -1");
    r = sample_record();
    r.y[4] = 0;
    expect_error(r, 0, 10, "its target \"y\"[4] is the MASK id");
    expect_error(sample_record(), 10, 10, "MASK id 10 is out of range [0, 10)");
    r = sample_record();
    r.unmask = {1, 1};
    expect_error(r, 0, 10, "\"unmask\" has 2 entries");
  }

  TEST_CASE("record: effective labels keep every shared vector's transition and are canonical") {
    train::trajectory_reader reader(shared_vectors);
    std::size_t n = 0, changed = 0;
    for (transition_record r; reader.next(r); ++n) {
      CAPTURE(reader.line());
      const auto e = train::effective_labels(r, 0);
      CHECK(train::apply(e, 0) == r.next);
      CHECK_NOTHROW(train::check_consistent(e, 0, 0, "effective"));
      CHECK(train::effective_labels(e, 0) == e);
      for (std::size_t i = 0; i < e.x.size(); ++i) {
        CHECK((!e.del[i] || e.x[i] == 0));                                    // delete only on a MASK
        CHECK((!e.del[i] || (!e.remask[i] && !e.insert[i] && !e.unmask[i]))); // nothing else on a deleted MASK
        CHECK((e.y[i] == -1) == !e.unmask[i]);                                // a target exactly where unmasked
      }
      changed += e == r ? 0 : 1;
    }
    CHECK(n == 2011);
    CHECK(changed > 100); // the vectors draw bits at random, so many carry labels that do nothing
  }

  TEST_CASE("reader: all 2011 shared AP-MDM vectors stream through the consistency check") {
    train::trajectory_reader reader(shared_vectors);
    CHECK_FALSE(reader.header().has_value());
    std::size_t n = 0;
    for (transition_record r; reader.next(r);) {
      ++n;
      CHECK(reader.line() == n);
      CHECK(r.unmask == train::ap_mdm_unmask(r.x, r.remask, r.del, 0)); // no "unmask" key: the AP-MDM rule
      CHECK_FALSE(r.trajectory.has_value());
    }
    CHECK(n == 2011);
    CHECK(reader.records_read() == 2011);
    CHECK(reader.mask() == 0);
    CHECK(reader.vocab_size() == 0);
    // With a vocabulary size the ids are range-checked too (the vectors use ids below 33).
    train::trajectory_reader sized(shared_vectors, {.check = true, .vocab_size = 33});
    std::size_t m = 0;
    for (transition_record r; sized.next(r);) ++m;
    CHECK(m == 2011);
  }

  TEST_CASE("reader: a corrupted next value is rejected naming the file and the line") {
    auto lines = read_lines(shared_vectors);
    REQUIRE(lines.size() == 2011);
    // Change the first "next" value of the first line from 40 on that has one.
    std::size_t k = 39;
    while (lines[k].find("\"next\": []") != std::string::npos) ++k;
    const auto at = lines[k].find("\"next\": [") + 9;
    const auto end = lines[k].find_first_of(",]", at);
    const int old = std::stoi(lines[k].substr(at, end - at));
    lines[k].replace(at, end - at, std::to_string(old + 1));
    temp_file f("corrupt");
    write_lines(f.path, lines);
    const std::string where = f.path + " line " + std::to_string(k + 1);

    train::trajectory_reader reader(f.path);
    transition_record r;
    for (std::size_t i = 0; i < k; ++i) REQUIRE(reader.next(r)); // the lines before it stream through
    bool thrown = false;
    try {
      reader.next(r);
    } catch (const apgen::parse_error& e) {
      thrown = true;
      const std::string message = e.what();
      CHECK(message.find(where + ": \"next\" disagrees") != std::string::npos);
      CHECK(message.find("at position 0: \"next\" has " + std::to_string(old + 1)) != std::string::npos);
    }
    CHECK(thrown);

    // With the replay off, the file reads whole (its shape is fine).
    train::trajectory_reader unchecked(f.path, {.check = false});
    std::size_t n = 0;
    while (unchecked.next(r)) ++n;
    CHECK(n == 2011);
  }

  TEST_CASE("writer and reader: teacher records round-trip through a file with a header") {
    const auto v = apgen::tasks::parity::make_vocabulary();
    const auto records = apgen::tasks::parity::teacher(v, {{0, 1, 1, 0}, {1, 1, 1}, {}, {0}});
    REQUIRE(records.size() > 4);
    temp_file f("roundtrip");
    {
      train::trajectory_writer out(f.path, {v.size(), v.mask()});
      for (const auto& r : records) out.write(r);
      CHECK(out.records_written() == records.size());
    }
    const auto lines = read_lines(f.path);
    REQUIRE(lines.size() == records.size() + 1);
    CHECK(lines[0] == R"({"format":"apgen.transitions/1","vocab_size":4,"mask":0})");
    CHECK(lines[1].rfind(R"({"mask":0,"x":[1,2,3,3,2],"y":)", 0) == 0);
    CHECK(lines[1].find("\"unmask\"") == std::string::npos); // AP-MDM labels: unmask is the rule, left out
    CHECK(lines[1].find(R"("trajectory":0,"step":0})") != std::string::npos);

    train::trajectory_reader in(f.path);
    REQUIRE(in.header().has_value());
    CHECK(*in.header() == train::trajectory_header{4, 0});
    CHECK(in.vocab_size() == 4);
    std::vector<transition_record> back;
    for (transition_record r; in.next(r);) back.push_back(r);
    CHECK(back == records);
    CHECK(in.line() == records.size() + 1);

    // A writer is a teacher's sink: the same records, line for line.
    std::ostringstream streamed;
    {
      train::trajectory_writer sink(streamed, {v.size(), v.mask()});
      apgen::tasks::parity::teacher(v, {{0, 1, 1, 0}, {1, 1, 1}, {}, {0}}, sink);
    }
    std::string file_text;
    for (const auto& l : lines) file_text += l + "\n";
    CHECK(streamed.str() == file_text);

    // Header-less output to a stream reads back too, and matches the shared vectors' key layout.
    std::ostringstream text;
    train::trajectory_writer bare(text, {0, 0}, {.header = false});
    bare(records[0]);
    CHECK(text.str().rfind(R"({"mask":0,"x":)", 0) == 0);
    CHECK(read_text(text.str()) == std::vector<transition_record>{records[0]});
  }

  TEST_CASE("writer: a bad record or header is refused and nothing is written") {
    std::ostringstream text;
    train::trajectory_writer out(text, {10, 0});
    const auto header_only = text.str();
    auto r = sample_record();
    r.next[0] = 5;
    CHECK_THROWS_WITH_AS(out.write(r), doctest::Contains("trajectory_writer: record 0: \"next\" disagrees"),
                         apgen::invalid_argument);
    r = sample_record();
    r.x[0] = 11;
    CHECK_THROWS_WITH_AS(out.write(r), doctest::Contains("out of range [0, 10)"), apgen::invalid_argument);
    CHECK(text.str() == header_only);
    CHECK(out.records_written() == 0);
    out.write(sample_record());
    CHECK(out.records_written() == 1);
    r = sample_record();
    r.step = -1;
    CHECK_THROWS_WITH_AS(out.write(r), doctest::Contains("record 1: \"trajectory\" and \"step\" must not be negative"),
                         apgen::invalid_argument);

    std::ostringstream other;
    CHECK_THROWS_WITH_AS(train::trajectory_writer(other, {0, 0}), doctest::Contains("vocabulary size above 0"),
                         apgen::invalid_argument);
    CHECK_THROWS_WITH_AS(train::trajectory_writer(other, {4, 4}), doctest::Contains("MASK id 4 is out of range"),
                         apgen::invalid_argument);
    CHECK_THROWS_AS(train::trajectory_writer("/nonexistent-dir/x.jsonl", {4, 0}), apgen::invalid_argument);
  }

  TEST_CASE("reader: malformed lines are rejected with the line number and what is wrong") {
    const std::string h = std::string(good_header) + "\n";
    const auto expect_error = [](const std::string& text, const char* what) {
      CAPTURE(text);
      CHECK_THROWS_WITH_AS(read_text(text), doctest::Contains(what), apgen::parse_error);
    };
    CHECK(read_text(h + good_line + "\n\n" + good_line + "\n").size() == 2); // blank lines are skipped (and counted)

    SUBCASE("bad JSON") {
      expect_error(h + good_line + "\n" + R"({"mask":0,"x":[1,)" + "\n", "mem.jsonl line 3: unexpected");
      expect_error(R"({"mask":0,"x":[1,2)", "mem.jsonl line 1: ");
      expect_error(h + good_line + "\n\n" + "[1, 2] junk\n", "mem.jsonl line 4: trailing characters");
    }
    SUBCASE("not an object") {
      expect_error(h + "[0,1]\n", "mem.jsonl line 2: expected a JSON object (one transition record), found array");
    }
    SUBCASE("missing key") {
      expect_error(h + R"({"x":[],"y":[],"remask":[],"insert":[],"delete":[]})",
                   "mem.jsonl line 2: missing key \"next\" in the record");
      expect_error(R"({"x":[],"y":[],"remask":[],"insert":[],"delete":[],"next":[]})",
                   "line 1: missing key \"mask\" (required without a header line)");
    }
    SUBCASE("unknown key") {
      expect_error(h + R"({"x":[],"y":[],"remask":[],"insert":[],"deleted":[],"next":[]})",
                   "line 2: unknown key \"deleted\"");
    }
    SUBCASE("length mismatch between x and the bit arrays") {
      expect_error(h + R"({"x":[2,0],"y":[-1,3],"remask":[0,0],"insert":[0],"delete":[0,0],"next":[2,3]})",
                   "mem.jsonl line 2: \"insert\" has 1 entries, \"x\" has 2");
      expect_error(h + R"({"x":[2,0],"y":[-1],"remask":[0,0],"insert":[0,0],"delete":[0,0],"next":[2,3]})",
                   "\"y\" has 1 entries, \"x\" has 2");
      expect_error(
          h + R"({"x":[2,0],"y":[-1,3],"remask":[0,0],"insert":[0,0],"delete":[0,0],"unmask":[],"next":[2,3]})",
          "\"unmask\" has 0 entries, \"x\" has 2");
    }
    SUBCASE("out-of-range token") {
      expect_error(h + R"({"x":[2,10],"y":[-1,-1],"remask":[0,0],"insert":[0,0],"delete":[0,0],"next":[2,10]})",
                   "mem.jsonl line 2: token \"x\"[1] = 10 is out of range [0, 10)");
      expect_error(h + R"({"x":[2,0],"y":[-1,12],"remask":[0,0],"insert":[0,0],"delete":[0,0],"next":[2,3]})",
                   "line 2: target \"y\"[1] = 12 is out of range");
      expect_error(R"({"mask":0,"x":[-4],"y":[-1],"remask":[0],"insert":[0],"delete":[0],"next":[-4]})",
                   "token \"x\"[0] = -4 is negative");
      expect_error(h + R"({"x":[99999999999],"y":[-1],"remask":[0],"insert":[0],"delete":[0],"next":[1]})",
                   "token \"x\"[0] = 99999999999 is out of range");
    }
    SUBCASE("bits not 0/1") {
      expect_error(h + R"({"x":[2,0],"y":[-1,3],"remask":[0,2],"insert":[0,0],"delete":[0,0],"next":[2,3]})",
                   "mem.jsonl line 2: \"remask\"[1] is 2, expected 0 or 1");
      expect_error(h + R"({"x":[2,0],"y":[-1,3],"remask":[0,0],"insert":[0,0],"delete":[true,0],"next":[2,3]})",
                   "\"delete\"[0] must be an integer, found boolean");
      expect_error(h + R"({"x":[2,0],"y":[-1,3],"remask":[0,0],"insert":[0,0.5],"delete":[0,0],"next":[2,3]})",
                   "\"insert\"[1] must be an integer, found number");
      expect_error(h + R"({"x":[2,0],"y":[-1,3],"remask":"00","insert":[0,0],"delete":[0,0],"next":[2,3]})",
                   "\"remask\" must be an array of integers, found string");
    }
    SUBCASE("mask and header") {
      expect_error(h + R"({"mask":1,"x":[],"y":[],"remask":[],"insert":[],"delete":[],"next":[]})",
                   "line 2: \"mask\" is 1 but the header says 0");
      expect_error(std::string(good_line) + "\n" +
                       R"({"mask":3,"x":[],"y":[],"remask":[],"insert":[],"delete":[],"next":[]})",
                   "line 2: \"mask\" is 3 but the file's first record says 0");
      expect_error(R"({"format":"apgen.transitions/3","vocab_size":10,"mask":0})",
                   "mem.jsonl line 1: unsupported format \"apgen.transitions/3\"");
      expect_error(R"({"format":"apgen.transitions/1","vocab_size":10,"mask":10})",
                   "line 1: header MASK id 10 is out of range [0, 10)");
      expect_error(R"({"format":"apgen.transitions/1","mask":0})", "line 1: missing key \"vocab_size\" in the header");
      expect_error(R"({"format":"apgen.transitions/1","vocab_size":10,"mask":0,"extra":1})",
                   "unknown key \"extra\" in the header");
      expect_error(std::string(good_line) + "\n" + good_header + "\n",
                   "line 2: a header line (\"format\") may only be the first line");
      std::istringstream in(h);
      CHECK_THROWS_WITH_AS(train::trajectory_reader(in, "mem.jsonl", {.vocab_size = 12}),
                           doctest::Contains("header \"vocab_size\" 10 differs from the reader's vocab_size 12"),
                           apgen::parse_error);
    }
    SUBCASE("a file that cannot be opened") {
      CHECK_THROWS_WITH_AS(train::trajectory_reader("/nonexistent-dir/none.jsonl"),
                           doctest::Contains("none.jsonl: cannot open file"), apgen::parse_error);
    }
  }

  TEST_CASE("teacher: parity on the four length-2 inputs gives exactly seven distinct transitions") {
    const auto v = apgen::tasks::parity::make_vocabulary();
    const std::vector<std::vector<int>> inputs{{0, 0}, {0, 1}, {1, 0}, {1, 1}};
    const auto records = apgen::tasks::parity::teacher(v, inputs);
    std::set<std::pair<std::vector<int>, std::vector<int>>> pairs;
    for (const auto& r : records) {
      CHECK_NOTHROW(train::check_consistent(r, v.mask(), v.size(), "parity"));
      pairs.emplace(r.x, r.next);
    }
    CHECK(pairs.size() == 7);
    CHECK(records.size() == 8); // two steps per input: remask, then delete
    const auto text = [&](const std::vector<int>& t) { return v.to_text(t, " "); };
    std::set<std::pair<std::string, std::string>> seen;
    for (const auto& [x, next] : pairs) seen.emplace(text(x), text(next));
    CHECK(seen.count({"[BOS] 1 1", "[BOS] [MASK] [MASK]"}) == 1);
    CHECK(seen.count({"[BOS] 0 1", "[BOS] [MASK] 1"}) == 1);
    CHECK(seen.count({"[BOS] 1 [MASK]", "[BOS] 1"}) == 1);
    CHECK(seen.count({"[BOS] [MASK] [MASK]", "[BOS]"}) == 1);

    // The labels are the effective ones: remask the zeros; delete only MASKs; no targets anywhere.
    for (const auto& r : records) {
      if (text(r.x) == "[BOS] 0 0") CHECK(r.remask == std::vector<std::uint8_t>{0, 1, 1});
      if (text(r.x) == "[BOS] [MASK] [MASK]") {
        CHECK(r.del == std::vector<std::uint8_t>{0, 1, 1});
        CHECK(r.unmask == std::vector<std::uint8_t>{0, 0, 0});
        CHECK(r.y == std::vector<int>{-1, -1, -1});
      }
      CHECK(*r.trajectory >= 0);
      CHECK(*r.trajectory < 4);
    }
    // Keeping the final, unchanged steps adds the two fixed points [BOS] -> [BOS] and [BOS] 1 -> [BOS] 1.
    const auto all = apgen::tasks::parity::teacher(v, inputs, {.skip_unchanged = false});
    std::set<std::pair<std::vector<int>, std::vector<int>>> all_pairs;
    for (const auto& r : all) all_pairs.emplace(r.x, r.next);
    CHECK(all_pairs.size() == 9);
    CHECK(all.size() == 12);
  }

  TEST_CASE("teacher: parity trajectories chain from the input to the answer") {
    const auto v = apgen::tasks::parity::make_vocabulary();
    std::mt19937 g(11);
    std::vector<std::vector<int>> inputs;
    for (int k = 0; k < 300; ++k) {
      std::vector<int> b(g() % 41);
      for (auto& x : b) x = static_cast<int>(g() & 1u);
      inputs.push_back(b);
    }
    std::vector<transition_record> records;
    apgen::tasks::parity::teacher(
        v, inputs, [&](transition_record&& r) { records.push_back(std::move(r)); }, {.first_trajectory = 100}, 64);
    const auto groups = by_trajectory(records);
    for (const auto& group : groups) {
      const std::int64_t id = group.first; // not a structured binding: clang 14 cannot capture one (CAPTURE)
      const auto& list = group.second;
      CAPTURE(id);
      REQUIRE(id >= 100);
      const auto& bits = inputs[static_cast<std::size_t>(id - 100)];
      CHECK(list.front().x == apgen::tasks::parity::encode(v, bits));
      for (std::size_t k = 1; k < list.size(); ++k) CHECK(list[k].x == list[k - 1].next);
      CHECK(list.back().next == apgen::tasks::parity::answer(v, bits));
    }
    // Inputs already at their answer ([BOS] or [BOS] 1) have no transitions; every other one has a trajectory.
    std::size_t moving = 0;
    for (const auto& b : inputs) moving += apgen::tasks::parity::encode(v, b) != apgen::tasks::parity::answer(v, b);
    CHECK(groups.size() == moving);
  }

  TEST_CASE("teacher: dyck trajectories are consistent, chain, end in Dyck words and do not depend on the batch") {
    const std::size_t k = 2;
    const auto v = apgen::tasks::dyck::make_vocabulary(k);
    const apgen::tasks::dyck::oracle_options o{k, 12, 0.15, 0.3};
    const auto records = apgen::tasks::dyck::teacher(v, o, 200, 7);
    std::size_t inserts = 0, unmasks = 0;
    for (const auto& r : records) {
      CHECK_NOTHROW(train::check_consistent(r, v.mask(), v.size(), "dyck"));
      for (auto b : r.insert) inserts += b;
      for (auto b : r.unmask) unmasks += b;
      for (auto b : r.del) CHECK(b == 0);
      for (auto b : r.remask) CHECK(b == 0);
    }
    CHECK(inserts > 0);
    CHECK(unmasks > 0);
    const auto groups = by_trajectory(records);
    CHECK(groups.size() > 100); // most runs insert at least one pair before stopping
    for (const auto& group : groups) {
      const std::int64_t id = group.first; // not a structured binding: clang 14 cannot capture one (CAPTURE)
      const auto& list = group.second;
      CAPTURE(id);
      CHECK(list.front().x == std::vector<int>{*v.bos()});
      for (std::size_t s = 1; s < list.size(); ++s) CHECK(list[s].x == list[s - 1].next);
      const auto& last = list.back().next;
      CHECK(apgen::tasks::dyck::is_two_sided_dyck(std::span<const int>(last).subspan(1), k));
      CHECK(last.size() - 1 <= o.max_length);
    }
    std::vector<transition_record> small_batches;
    apgen::tasks::dyck::teacher(
        v, o, 200, 7, [&](transition_record&& r) { small_batches.push_back(std::move(r)); }, {}, 7);
    const auto regroup = by_trajectory(small_batches);
    CHECK(regroup == groups);
  }

  TEST_CASE("teacher: requested edits are filtered by the lock and the edit set, and do-nothing labels are cleared") {
    const auto v = apgen::tasks::parity::make_vocabulary(); // MASK 0, BOS 1, "0" 2, "1" 3
    // Requests remask at BOS (locked), delete everywhere, insert after a "1"; MASKs would become "1".
    auto model = apgen::make_denoiser(
        v.size(),
        [](std::span<const apgen::token_id> row, apgen::matrix_view<float> logits, apgen::matrix_view<float> controls) {
          for (std::size_t i = 0; i < row.size(); ++i) {
            logits.row(i)[3] = 10.0f;
            controls(i, apgen::control_remask) = i == 0 ? 30.0f : -30.0f;
            controls(i, apgen::control_delete) = 30.0f;
            controls(i, apgen::control_insert) = row[i] == 3 ? 30.0f : -30.0f;
          }
        },
        apgen::heads::tokens_and_controls);
    apgen::canvas c(v, 1, 8);
    c.assign(0, {1, 3, 0, 0, 2}, 1); // [BOS] 1 MASK MASK 0, BOS locked
    // One step: the next one would repeat "insert a MASK, delete it" forever (the rows' tokens stay, the edits don't).
    auto gen = apgen::make_generator(model, apgen::schedules::any_process<>(), {.max_steps = 1});
    const auto records = train::record_trajectories(gen, c);
    // [BOS] 1 M M 0 -> [BOS] 1 M 0: a MASK inserted after the 1, both old MASKs deleted.
    REQUIRE(records.size() == 1);
    const auto& r = records[0];
    CHECK(r.x == std::vector<int>{1, 3, 0, 0, 2});
    CHECK(r.next == std::vector<int>{1, 3, 0, 2});
    CHECK(r.remask == std::vector<std::uint8_t>{0, 0, 0, 0, 0}); // the lock keeps BOS
    CHECK(r.del == std::vector<std::uint8_t>{0, 0, 1, 1, 0});    // delete acts on MASKs only
    CHECK(r.insert == std::vector<std::uint8_t>{0, 1, 0, 0, 0});
    CHECK(r.unmask == std::vector<std::uint8_t>{0, 0, 0, 0, 0});
    CHECK(r.y == std::vector<int>{-1, -1, -1, -1, -1});
    CHECK(r.step == 0);
    CHECK(r.trajectory == 0);

    // Without insert and delete in the edit set, the same requests leave only the unmasks.
    c.assign(0, {1, 3, 0, 0, 2}, 1);
    auto gen2 =
        apgen::make_generator<apgen::edits::mdm_remask>(model, apgen::schedules::any_process<>(), {.max_steps = 4});
    std::vector<transition_record> got;
    train::record_trajectories(gen2, c, [&](transition_record&& rec) { got.push_back(std::move(rec)); });
    REQUIRE(got.size() == 1);
    CHECK(got[0].next == std::vector<int>{1, 3, 3, 3, 2});
    CHECK(got[0].remask == std::vector<std::uint8_t>{0, 0, 0, 0, 0});
    CHECK(got[0].del == std::vector<std::uint8_t>{0, 0, 0, 0, 0});
    CHECK(got[0].insert == std::vector<std::uint8_t>{0, 0, 0, 0, 0});
    CHECK(got[0].unmask == std::vector<std::uint8_t>{0, 0, 1, 1, 0});
    CHECK(got[0].y == std::vector<int>{-1, -1, 3, 3, -1});
  }

  TEST_CASE("teacher: masked diffusion records keep masks for later and write an explicit unmask") {
    const auto v = apgen::tasks::parity::make_vocabulary();
    auto model =
        apgen::make_denoiser(v.size(), [](std::span<const apgen::token_id> row, apgen::matrix_view<float> logits) {
          for (std::size_t i = 0; i < row.size(); ++i) logits.row(i)[2 + i % 2] = 1.0f + static_cast<float>(i);
        });
    apgen::canvas c(v, 2, 8);
    c.assign_prompt_and_masks(0, std::vector<apgen::token_id>{1}, 4);
    c.assign_prompt_and_masks(1, std::vector<apgen::token_id>{1, 3}, 2);
    auto gen = apgen::make_generator(model, apgen::schedules::top_probability());
    const auto records = train::record_trajectories(gen, c, {.first_trajectory = 5});
    CHECK(records.size() == 6); // one MASK per step: 4 + 2
    for (const auto& r : records) {
      std::size_t on = 0, masks = 0;
      for (std::size_t i = 0; i < r.x.size(); ++i) {
        on += r.unmask[i];
        masks += r.x[i] == v.mask();
      }
      CHECK(on == 1);
      const bool explicit_unmask = r.unmask != train::ap_mdm_unmask(r.x, r.remask, r.del, v.mask());
      CHECK(explicit_unmask == (masks > 1)); // only the last MASK of a row matches the AP-MDM rule
    }
    std::ostringstream text;
    train::trajectory_writer out(text, {v.size(), v.mask()});
    for (const auto& r : records) out.write(r);
    CHECK(text.str().find("\"unmask\":[0,0,0,0,1]") != std::string::npos); // the highest-scoring MASK goes first
    CHECK(read_text(text.str()) == records);
    const auto groups = by_trajectory(records);
    CHECK(groups.size() == 2);
    CHECK(groups.begin()->first == 5);
  }

} // TEST_SUITE
