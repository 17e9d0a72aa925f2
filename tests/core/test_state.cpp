// Vocabulary and canvas: special ids, text round trips, ragged rows, and clear errors for bad input.
#include <apgen/core/canvas.hpp>
#include <apgen/core/vocabulary.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

TEST_SUITE("state") {

  TEST_CASE("vocabulary: specials come first, text round-trips") {
    apgen::vocabulary v({"the", "cat", "sat"}, {"[MASK]", "[PAD]", "[BOS]", "[EOS]"});
    CHECK(v.size() == 7);
    CHECK(v.mask() == 0);
    CHECK(v.pad() == 1);
    CHECK(v.bos() == 2);
    CHECK(v.eos() == 3);
    CHECK(v.id("cat") == 5);
    const auto t = v.from_text("[BOS] the cat [MASK] sat");
    CHECK(t == std::vector<int>{2, 4, 5, 0, 6});
    CHECK(v.to_text(t) == "[BOS] the cat [MASK] sat");
    apgen::vocabulary brackets({"(", ")"});
    CHECK(brackets.to_text(brackets.from_text("(())")) == "(())");
    CHECK(brackets.from_text("( ) )") == std::vector<int>{1, 2, 2});
  }

  TEST_CASE("vocabulary: bad input is named") {
    CHECK_THROWS_WITH_AS(apgen::vocabulary({}), doctest::Contains("empty vocabulary"), apgen::invalid_argument);
    CHECK_THROWS_WITH_AS(apgen::vocabulary({"a", "a"}), doctest::Contains("\"a\" appears twice"),
                         apgen::invalid_argument);
    CHECK_THROWS_AS(apgen::vocabulary({"a", ""}), apgen::invalid_argument);
    CHECK_THROWS_AS(apgen::vocabulary({"a"}, {"", "", "", ""}), apgen::invalid_argument);
    apgen::vocabulary v({"a", "b"});
    CHECK_THROWS_WITH_AS((void)v.text(9), doctest::Contains("token id 9 is out of range"), apgen::invalid_token);
    CHECK_THROWS_WITH_AS((void)v.text(-1), doctest::Contains("token id -1"), apgen::invalid_token);
    CHECK_THROWS_WITH_AS(static_cast<void>(v.from_text("abz")), doctest::Contains("offset 2"), apgen::parse_error);
    CHECK_THROWS_WITH_AS((void)v.require_bos("parity"), doctest::Contains("parity needs a BOS token"),
                         apgen::invalid_token);
    CHECK_THROWS_AS((void)v.id("zz"), apgen::invalid_token);
  }

  TEST_CASE("canvas: ragged rows with their own capacities") {
    apgen::vocabulary v({"a", "b", "c"});
    apgen::canvas c(v, std::vector<std::size_t>{3, 1, 10});
    CHECK(c.rows() == 3);
    CHECK(c.total_capacity() == 14);
    CHECK(c.max_capacity() == 10);
    c.assign(0, {1, 0, 2});
    c.assign(2, {3, 3}, 1);
    CHECK(c.length(0) == 3);
    CHECK(c.length(1) == 0);
    CHECK(c.count_masks(0) == 1);
    CHECK(c.locked(2)[0] == 1);
    CHECK(c.locked(2)[1] == 0);
    std::vector<std::size_t> off(4);
    c.packed_offsets(off);
    CHECK(off == std::vector<std::size_t>{0, 3, 3, 5});
    CHECK(c.row_key(2) == 2);
    c.set_row_key(2, 99);
    CHECK(c.row_key(2) == 99);
    apgen::assign_text(v, c, 1, "b");
    CHECK(apgen::to_text(v, c, 1) == "b");
    c.assign_prompt_and_masks(2, std::vector<int>{1}, 4);
    CHECK(apgen::to_text(v, c, 2, " ") == "a [MASK] [MASK] [MASK] [MASK]");
  }

  TEST_CASE("canvas: bad input is named") {
    apgen::vocabulary v({"a", "b"});
    CHECK_THROWS_WITH_AS(apgen::canvas(v, 2, 0), doctest::Contains("capacity 0"), apgen::invalid_argument);
    CHECK_THROWS_WITH_AS(apgen::canvas(v, 0, 4), doctest::Contains("at least one row"), apgen::invalid_argument);
    apgen::canvas c(v, 2, 3);
    CHECK_THROWS_WITH_AS(c.assign(0, {1, 7}), doctest::Contains("token id 7 at row 0, position 1"),
                         apgen::invalid_token);
    CHECK_THROWS_WITH_AS(c.assign(1, {1, -2}), doctest::Contains("token id -2"), apgen::invalid_token);
    CHECK_THROWS_WITH_AS(c.assign(1, {1, 1, 1, 1}), doctest::Contains("capacity is 3"), apgen::capacity_exceeded);
    CHECK_THROWS_AS(c.assign(5, {1}), apgen::invalid_argument);
    CHECK_THROWS_AS(c.assign(0, {1}, 2), apgen::invalid_argument);
    CHECK_THROWS_AS(c.set_locked(0, 9, true), apgen::invalid_argument);
    apgen::vocabulary other({"a", "b", "c"});
    CHECK_THROWS_AS(apgen::assign_text(other, c, 0, "a"), apgen::shape_mismatch);
    std::vector<std::size_t> wrong(2);
    CHECK_THROWS_AS(c.packed_offsets(wrong), apgen::shape_mismatch);
  }

} // TEST_SUITE
