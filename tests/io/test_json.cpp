// The strict JSON reader and writer (include/apgen/io/json.hpp): what it accepts, each class of input it refuses
// (with the byte offset in the message), and writer/reader round trips.
#include <apgen/io/json.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace {

using apgen::io::json_type;
using apgen::io::json_value;
using apgen::io::parse_json;
using doctest::Contains;

json_value parse(std::string_view text) {
  return parse_json(text);
}

// splitmix64: a fixed-seed generator for the property tests (never std::*_distribution in compared results).
struct splitmix {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
};

std::string nested(std::size_t depth, char open, char close) {
  return std::string(depth, open) + std::string(depth, close);
}

} // namespace

TEST_SUITE("json") {

  TEST_CASE("parses every JSON type, keeping member order and byte offsets") {
    const auto doc = parse(R"( {"n":null,"t":true,"f":false,"i":-42,"d":2.5,"s":"x","a":[1,[]],"o":{}} )");
    REQUIRE(doc.is_object());
    CHECK(doc.offset() == 1);
    const auto& members = doc.as_object();
    REQUIRE(members.size() == 8);
    CHECK(members[0].key == "n");
    CHECK(members[7].key == "o");
    CHECK(doc.at("n").is_null());
    CHECK(doc.at("t").as_bool() == true);
    CHECK(doc.at("f").as_bool() == false);
    CHECK(doc.at("i").as_int() == -42);
    CHECK(doc.at("i").as_double() == -42.0);
    CHECK(doc.at("d").as_double() == 2.5);
    CHECK(doc.at("s").as_string() == "x");
    CHECK(doc.at("a").as_array().size() == 2);
    CHECK(doc.at("a").as_array()[1].as_array().empty());
    CHECK(doc.at("o").as_object().empty());
    CHECK(doc.at("i").offset() == 34);
    CHECK(doc.find("missing") == nullptr);
    CHECK(parse("7").as_int() == 7); // any value may stand at the top (RFC 8259)
    CHECK(parse("\"top\"").as_string() == "top");
  }

  TEST_CASE("integers are exact int64 and other numbers are doubles") {
    CHECK(parse("9223372036854775807").as_int() == std::numeric_limits<std::int64_t>::max());
    CHECK(parse("-9223372036854775808").as_int() == std::numeric_limits<std::int64_t>::min());
    CHECK(parse("9007199254740993").as_int() == 9007199254740993LL); // not representable as a double
    CHECK(parse("-0").type() == json_type::integer);
    CHECK(parse("2.0").type() == json_type::number);
    CHECK(parse("1e2").type() == json_type::number);
    CHECK(parse("1e2").as_double() == 100.0);
    CHECK(parse("-1.25E-2").as_double() == -0.0125);
    CHECK(parse("1.7976931348623157e308").as_double() == std::numeric_limits<double>::max());
    CHECK(parse("4.9e-324").as_double() == std::numeric_limits<double>::denorm_min());
    // Underflow rounds to (signed) zero, as the correctly rounded result does.
    CHECK(parse("1e-400").as_double() == 0.0);
    CHECK(std::signbit(parse("-1e-400").as_double()));
    CHECK(parse("0.000e99999999999999999999").as_double() == 0.0);
  }

  TEST_CASE("numbers out of range are refused") {
    CHECK_THROWS_WITH_AS(parse("[9223372036854775808]"),
                         Contains("integer out of range (does not fit int64) at byte 1"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("-9223372036854775809"), Contains("integer out of range"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("1e309"), Contains("number out of range (overflows double) at byte 0"),
                         apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("-123456789e305"), Contains("overflows double"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("1e99999999999999999999"), Contains("overflows double"), apgen::parse_error);
  }

  TEST_CASE("malformed numbers are refused") {
    for (const std::string_view bad :
         {"01", "-", "-a", "1.", ".5", "+1", "1e", "1e+", "0x10", "NaN", "Infinity", "1.e3", "--1", "- 1"}) {
      CAPTURE(bad);
      CHECK_THROWS_AS(parse(bad), apgen::parse_error);
    }
    CHECK_THROWS_WITH_AS(parse("[01]"), Contains("invalid number (leading zero) at byte 1"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("[1.]"), Contains("invalid number (expected a digit after '.') at byte 3"),
                         apgen::parse_error);
  }

  TEST_CASE("string escapes, including surrogate pairs, decode to UTF-8") {
    CHECK(parse(R"("\"\\\/\b\f\n\r\t")").as_string() == "\"\\/\b\f\n\r\t");
    CHECK(parse(R"("\u0041\u00e9\u20AC")").as_string() == "A\xc3\xa9\xe2\x82\xac");
    CHECK(parse(R"("\ud83d\ude00")").as_string() == "\xf0\x9f\x98\x80"); // U+1F600
    CHECK(parse(R"("\uDBFF\uDFFF")").as_string() == "\xf4\x8f\xbf\xbf"); // U+10FFFF
    CHECK(parse(R"("\u0000")").as_string() == std::string(1, '\0'));
    CHECK(parse("\"\xf0\x9f\x98\x80 \xe2\x82\xac \x7f\"").as_string() == "\xf0\x9f\x98\x80 \xe2\x82\xac \x7f");
  }

  TEST_CASE("bad escapes and lone surrogates are refused") {
    CHECK_THROWS_WITH_AS(parse(R"("\x")"), Contains("invalid escape sequence at byte 1"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse(R"("\u12x4")"), Contains("invalid hex digit in \\u escape at byte 5"),
                         apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse(R"("\u12)"), Contains("truncated \\u escape"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse(R"("ab\ud800")"),
                         Contains("high surrogate not followed by a low surrogate escape at byte 3"),
                         apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse(R"("\ud800\u0041")"), Contains("high surrogate not followed by a low surrogate"),
                         apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse(R"("\ud800\ud800")"), Contains("high surrogate not followed by a low surrogate"),
                         apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse(R"("\udc00")"), Contains("lone low surrogate in \\u escape at byte 1"),
                         apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("\"\\"), Contains("unterminated escape sequence"), apgen::parse_error);
  }

  TEST_CASE("invalid UTF-8 in strings is refused, naming the kind and the offset") {
    CHECK_THROWS_WITH_AS(parse("\"ab\xc0\xaf\""), Contains("invalid UTF-8 (overlong encoding) in string at byte 3"),
                         apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("\"\xe0\x80\xaf\""), Contains("overlong encoding"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("\"\xf0\x80\x80\xaf\""), Contains("overlong encoding"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("\"\xed\xa0\x80\""), Contains("encoded surrogate"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("\"\xed\xbf\xbf\""), Contains("encoded surrogate"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("\"\xf4\x90\x80\x80\""), Contains("above U+10FFFF"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("\"\xf5\x80\x80\x80\""), Contains("byte outside any encoding"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("\"\xff\""), Contains("byte outside any encoding"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("\"\x80\""), Contains("unexpected continuation byte"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("\"\xe2\x82\""), Contains("invalid UTF-8 (truncated sequence) in string at byte 1"),
                         apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("\"\xe2\x82"), Contains("truncated sequence"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("\"\xf0\x9f\x98\""), Contains("truncated sequence"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("{\"k\xc3\":1}"), Contains("truncated sequence"), apgen::parse_error); // keys too
  }

  TEST_CASE("raw control characters in strings are refused") {
    CHECK_THROWS_WITH_AS(parse("\"a\x01z\""), Contains("control character in string (must be escaped) at byte 2"),
                         apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("\"line\nbreak\""), Contains("control character"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse(std::string_view("\"nul\0\"", 6)), Contains("control character"), apgen::parse_error);
  }

  TEST_CASE("trailing garbage, empty input and structural errors are refused") {
    CHECK_THROWS_WITH_AS(parse("{} x"), Contains("trailing characters after the JSON value at byte 3"),
                         apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("[1]]"), Contains("trailing characters"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("1 2"), Contains("trailing characters"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse(std::string_view("{}\0", 3)), Contains("trailing characters"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse(""), Contains("empty input"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse(" \n\t "), Contains("empty input"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("\xef\xbb\xbf{}"), Contains("unexpected character"), apgen::parse_error); // no BOM
    CHECK_THROWS_WITH_AS(parse("[1,2,]"), Contains("unexpected character (expected a JSON value) at byte 5"),
                         apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("[1 2]"), Contains("expected ',' or ']' in array at byte 3"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("{\"a\" 1}"), Contains("expected ':' after object key at byte 5"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("{\"a\":1,}"), Contains("expected a string key in object at byte 7"),
                         apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("{a:1}"), Contains("expected a string key"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("{\"a\":1"), Contains("unexpected end of input in object"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("[1,"), Contains("unexpected end of input (expected a JSON value) at byte 3"),
                         apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("\"abc"), Contains("unterminated string"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("tru"), Contains("invalid literal"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("nulL"), Contains("invalid literal"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse("// c\n1"), Contains("unexpected character"), apgen::parse_error);
  }

  TEST_CASE("duplicate keys are refused at the second occurrence") {
    CHECK_THROWS_WITH_AS(parse(R"({"a":1,"b":2,"a":3})"), Contains("duplicate key \"a\" at byte 13"),
                         apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse(R"({"x":{"k":1,"k":1}})"), Contains("duplicate key \"k\" at byte 12"),
                         apgen::parse_error);
    // Escapes are decoded before comparing: "\u0061" is "a".
    CHECK_THROWS_WITH_AS(parse(R"({"a":1,"\u0061":2})"), Contains("duplicate key \"a\""), apgen::parse_error);
    CHECK_NOTHROW(parse(R"({"a":{"a":1},"b":{"a":2}})")); // the same key in different objects is fine
  }

  TEST_CASE("nesting deeper than 64 is refused and 64 is accepted") {
    CHECK_NOTHROW(parse(nested(64, '[', ']')));
    CHECK_THROWS_WITH_AS(parse(nested(65, '[', ']')), Contains("nesting deeper than 64 levels at byte 64"),
                         apgen::parse_error);
    std::string objects;
    for (int i = 0; i < 65; ++i) objects += "{\"k\":";
    objects += "1" + std::string(65, '}');
    CHECK_THROWS_WITH_AS(parse(objects), Contains("nesting deeper than 64"), apgen::parse_error);
    // Deep input far beyond the limit stops at the limit, without deep recursion.
    CHECK_THROWS_AS(parse(std::string(1'000'000, '[')), apgen::parse_error);
    apgen::io::json_parse_options shallow;
    shallow.max_depth = 2;
    CHECK_NOTHROW(static_cast<void>(parse_json("[[1]]", shallow)));
    CHECK_THROWS_AS(static_cast<void>(parse_json("[[[1]]]", shallow)), apgen::parse_error);
  }

  TEST_CASE("messages carry the source label and the base offset") {
    apgen::io::json_parse_options opt;
    opt.source = "w.safetensors: header";
    opt.base_offset = 8;
    CHECK_THROWS_WITH_AS(static_cast<void>(parse_json("{\"a\":x}", opt)),
                         Contains("w.safetensors: header: unexpected character"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(static_cast<void>(parse_json("{\"a\":x}", opt)), Contains("at byte 13"), apgen::parse_error);
    CHECK(parse_json("[0,5]", opt).as_array()[1].offset() == 11);
  }

  TEST_CASE("accessors name the path, the types and the offset on a mismatch") {
    const auto doc = parse(R"({"shape":[2,"3"],"name":7})");
    CHECK_THROWS_WITH_AS(static_cast<void>(doc.at("name").as_string("w.name")),
                         Contains("w.name: expected string, found integer at byte 24"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(static_cast<void>(doc.at("shape").as_array()[1].as_int("shape[1]")),
                         Contains("shape[1]: expected integer, found string at byte 12"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(static_cast<void>(doc.at("dtype", "w")),
                         Contains("w: missing key \"dtype\" in object at byte 0"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(static_cast<void>(parse("2.0").as_int()), Contains("expected integer, found number"),
                         apgen::parse_error);
    CHECK_THROWS_WITH_AS(static_cast<void>(parse("[]").at("k", "arr")), Contains("arr: expected object, found array"),
                         apgen::parse_error);
    CHECK_THROWS_WITH_AS(static_cast<void>(parse("null").as_bool()), Contains("expected boolean, found null"),
                         apgen::parse_error);
  }

  TEST_CASE("writer: compact output that parses back to the same value") {
    json_value::object obj;
    obj.push_back({"name", "w\"1\\\n\x01\xc3\xa9"});
    obj.push_back({"shape", json_value::array{2, 3}});
    obj.push_back({"scale", 2.0});
    obj.push_back({"tiny", -1.5e-300});
    obj.push_back({"flags", json_value::array{true, false, nullptr}});
    obj.push_back({"big", std::numeric_limits<std::int64_t>::min()});
    const json_value doc(std::move(obj));
    const std::string text = apgen::io::to_json(doc);
    CHECK(text == "{\"name\":\"w\\\"1\\\\\\n\\u0001\xc3\xa9\",\"shape\":[2,3],\"scale\":2.0,\"tiny\":-1.5e-300,"
                  "\"flags\":[true,false,null],\"big\":-9223372036854775808}");
    const json_value back = parse(text);
    CHECK(back == doc);
    CHECK(back.at("scale").type() == json_type::number); // 2.0 stays a double
    CHECK(apgen::io::to_json(parse("[-0.0]")) == "[-0.0]");
  }

  TEST_CASE("writer refuses what JSON cannot hold") {
    CHECK_THROWS_WITH_AS(static_cast<void>(apgen::io::to_json(json_value(std::nan("")))), Contains("non-finite"),
                         apgen::invalid_argument);
    CHECK_THROWS_WITH_AS(static_cast<void>(apgen::io::to_json(json_value(HUGE_VAL))), Contains("non-finite"),
                         apgen::invalid_argument);
    std::string out;
    CHECK_THROWS_WITH_AS(apgen::io::append_json_string(out, "ok\xc0\xaf"),
                         Contains("invalid UTF-8 (overlong encoding) at byte 2"), apgen::invalid_argument);
    CHECK_THROWS_WITH_AS(static_cast<void>(json_value(std::numeric_limits<std::uint64_t>::max())),
                         Contains("does not fit int64"), apgen::invalid_argument);
  }

  TEST_CASE("property: random Unicode strings survive write then parse") {
    splitmix rng{20240601};
    for (int round = 0; round < 2000; ++round) {
      std::string s;
      const int n = static_cast<int>(rng.next() % 12);
      for (int k = 0; k < n; ++k) {
        std::uint32_t cp = 0;
        switch (rng.next() % 4) {
        case 0:
          cp = static_cast<std::uint32_t>(rng.next() % 0x80);
          break; // ASCII incl. controls, quote, backslash
        case 1:
          cp = 0x80 + static_cast<std::uint32_t>(rng.next() % 0x780);
          break;
        case 2:
          cp = 0x800 + static_cast<std::uint32_t>(rng.next() % 0xf800);
          break;
        default:
          cp = 0x10000 + static_cast<std::uint32_t>(rng.next() % 0x100000);
          break;
        }
        if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd; // not a scalar value
        apgen::io::detail::append_utf8(s, cp);
      }
      std::string text;
      apgen::io::append_json_string(text, s);
      CAPTURE(text);
      REQUIRE(parse(text).as_string() == s);
    }
  }

  TEST_CASE("property: random byte strings are accepted exactly when they are valid UTF-8") {
    // Reference: decode code points by the textbook rules and compare with the parser's verdict.
    const auto reference_valid = [](std::string_view s) {
      std::size_t i = 0;
      while (i < s.size()) {
        const auto b = static_cast<unsigned char>(s[i]);
        std::size_t len = 0;
        std::uint32_t cp = 0;
        if (b < 0x80)
          len = 1, cp = b;
        else if ((b & 0xe0) == 0xc0)
          len = 2, cp = b & 0x1fu;
        else if ((b & 0xf0) == 0xe0)
          len = 3, cp = b & 0x0fu;
        else if ((b & 0xf8) == 0xf0)
          len = 4, cp = b & 0x07u;
        else
          return false;
        if (s.size() - i < len) return false;
        for (std::size_t k = 1; k < len; ++k) {
          const auto c = static_cast<unsigned char>(s[i + k]);
          if ((c & 0xc0) != 0x80) return false;
          cp = (cp << 6) | (c & 0x3fu);
        }
        const std::uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_for_len[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += len;
      }
      return true;
    };
    splitmix rng{7};
    int valid = 0;
    for (int round = 0; round < 20000; ++round) {
      std::string s;
      const int n = 1 + static_cast<int>(rng.next() % 5);
      for (int k = 0; k < n; ++k) {
        const auto r = rng.next();
        // Mostly bytes >= 0x80 near the interesting boundaries, some ASCII letters.
        s += static_cast<char>(r % 5 == 0 ? 'a' + (r >> 8) % 26 : 0x80 + (r >> 8) % 0x80);
      }
      const bool expected = reference_valid(s);
      valid += expected;
      bool accepted = true;
      try {
        static_cast<void>(parse("\"" + s + "\""));
      } catch (const apgen::parse_error&) {
        accepted = false;
      }
      CAPTURE(s);
      REQUIRE(accepted == expected);
    }
    CHECK(valid > 100); // the generator does reach valid multi-byte sequences
  }

} // TEST_SUITE("json")
