#pragma once
/// \file
/// JSON in one include: the value (io/json_value.hpp), the strict reader (io/json_parse.hpp) and the writer
/// (io/json_write.hpp).
///
/// Usage:
///   const auto doc = apgen::io::parse_json(R"({"shape":[2,3]})");
///   std::string text = apgen::io::to_json(doc);              // {"shape":[2,3]}

#include <apgen/io/json_parse.hpp>
#include <apgen/io/json_value.hpp>
#include <apgen/io/json_write.hpp>
