#pragma once
// A reader for the flat JSON objects of the test vectors: keys mapping to integers or arrays of integers.
// Anything else is a parse error; enough for tests/data, not a general JSON parser.

#include <apgen/core/errors.hpp>

#include <cctype>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace apgen::testing {

using flat_object = std::map<std::string, std::vector<long long>>;

inline flat_object parse_flat_json(const std::string& s) {
  flat_object out;
  std::size_t i = 0;
  auto skip = [&] {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  };
  auto expect = [&](char c) {
    skip();
    if (i >= s.size() || s[i] != c)
      throw apgen::parse_error("flat json: expected '" + std::string(1, c) + "' at " + std::to_string(i));
    ++i;
  };
  auto number = [&] {
    skip();
    std::size_t used = 0;
    long long v = std::stoll(s.substr(i), &used);
    i += used;
    return v;
  };
  expect('{');
  skip();
  if (i < s.size() && s[i] == '}') return out;
  for (;;) {
    expect('"');
    auto end = s.find('"', i);
    std::string key = s.substr(i, end - i);
    i = end + 1;
    expect(':');
    skip();
    std::vector<long long> vals;
    if (s[i] == '[') {
      ++i;
      skip();
      if (s[i] == ']')
        ++i;
      else
        for (;;) {
          vals.push_back(number());
          skip();
          if (s[i] == ',') {
            ++i;
            continue;
          }
          expect(']');
          break;
        }
    } else {
      vals.push_back(number());
    }
    out[key] = vals;
    skip();
    if (s[i] == ',') {
      ++i;
      continue;
    }
    expect('}');
    break;
  }
  return out;
}

inline std::vector<flat_object> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw apgen::parse_error("cannot open " + path);
  std::vector<flat_object> rows;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) rows.push_back(parse_flat_json(line));
  return rows;
}

inline std::vector<int> as_ints(const std::vector<long long>& v) {
  return {v.begin(), v.end()};
}

} // namespace apgen::testing
