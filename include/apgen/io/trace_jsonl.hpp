#pragma once
/// \file
/// Trace export as JSON lines: one object per applied edit,
///   {"step":3,"row":0,"op":"unmask","position":5,"old":0,"new":7,"score":0.93}
/// with "old_text"/"new_text" added when a vocabulary is given. A score that is not a number is written as null.

#include <apgen/core/ops.hpp>
#include <apgen/core/trace.hpp>
#include <apgen/core/vocabulary.hpp>
#include <apgen/io/json_write.hpp>

#include <cmath>
#include <ostream>
#include <span>
#include <string>
#include <string_view>

namespace apgen::io {

/// Writes one record as a JSON object on one line (through io::json_writer, the library's one JSON writer).
inline void write_jsonl(std::ostream& out, const trace_record& r, const vocabulary* vocab = nullptr) {
  std::string line;
  json_writer w(line);
  w.begin_object().key("step").value(r.step).key("row").value(r.row).key("op").value(op_name(r.op));
  w.key("position").value(r.position).key("old").value(r.old_token).key("new").value(r.new_token);
  if (vocab) w.key("old_text").value(vocab->text(r.old_token)).key("new_text").value(vocab->text(r.new_token));
  // Round-trip precision: the shortest digits that read back as the same float (6 significant digits did not).
  w.key("score");
  if (std::isfinite(r.score))
    w.value(r.score);
  else
    w.null();
  w.end_object();
  line += '\n';
  out.write(line.data(), static_cast<std::streamsize>(line.size()));
}

/// Writes every record, in order.
inline void write_jsonl(std::ostream& out, std::span<const trace_record> records, const vocabulary* vocab = nullptr) {
  for (const auto& r : records) write_jsonl(out, r, vocab);
}

} // namespace apgen::io
