#pragma once
/// \file
/// Trace export as JSON lines: one object per applied edit,
///   {"step":3,"row":0,"op":"unmask","position":5,"old":0,"new":7,"score":0.93}
/// with "old_text"/"new_text" added when a vocabulary is given. A score that is not a number is written as null.

#include <apgen/core/ops.hpp>
#include <apgen/core/trace.hpp>
#include <apgen/core/vocabulary.hpp>

#include <charconv>
#include <cmath>
#include <ostream>
#include <span>
#include <string>
#include <string_view>

namespace apgen::io {

namespace detail {
inline void write_json_string(std::ostream& out, std::string_view s) {
  out << '"';
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') out << '\\' << ch;
    else if (c < 0x20) {
      static constexpr char hex[] = "0123456789abcdef";
      out << "\\u00" << hex[c >> 4] << hex[c & 15];
    } else out << ch;
  }
  out << '"';
}
} // namespace detail

/// Writes one record as a JSON object on one line.
inline void write_jsonl(std::ostream& out, const trace_record& r, const vocabulary* vocab = nullptr) {
  out << "{\"step\":" << r.step << ",\"row\":" << r.row << ",\"op\":\"" << op_name(r.op) << "\",\"position\":" << r.position
      << ",\"old\":" << r.old_token << ",\"new\":" << r.new_token;
  if (vocab) {
    out << ",\"old_text\":";
    detail::write_json_string(out, vocab->text(r.old_token));
    out << ",\"new_text\":";
    detail::write_json_string(out, vocab->text(r.new_token));
  }
  out << ",\"score\":";
  if (std::isfinite(r.score)) {
    // Round-trip precision: the shortest digits that read back as the same float (6 significant digits did not).
    char digits[32];
    const auto end = std::to_chars(digits, digits + sizeof digits, r.score).ptr;
    out.write(digits, end - digits);
  } else {
    out << "null";
  }
  out << "}\n";
}

/// Writes every record, in order.
inline void write_jsonl(std::ostream& out, std::span<const trace_record> records, const vocabulary* vocab = nullptr) {
  for (const auto& r : records) write_jsonl(out, r, vocab);
}

} // namespace apgen::io
