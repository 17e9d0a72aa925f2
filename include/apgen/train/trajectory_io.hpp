#pragma once
/// \file
/// Trajectory datasets on disk: JSON Lines, one transition record per line (docs/datasets.md gives the format).
///
///   {"format":"apgen.transitions/1","vocab_size":4,"mask":0}                      optional header, first line only
///   {"mask":0,"x":[2,0,0],"y":[-1,3,-1],"remask":[0,0,0],"insert":[0,0,0],"delete":[0,0,1],"next":[2,3],
///    "unmask":[0,1,0],"trajectory":0,"step":4}                                        one record (on one line)
///
/// The record keys are a superset of the shared AP-MDM test vectors (tests/data/ap_mdm_transition.jsonl), which
/// read as a header-less dataset. `trajectory_writer` writes a header and records; `trajectory_reader` streams
/// records one line at a time (the file is never loaded whole), checks each against the transition unless told
/// not to, and names the file and the 1-based line of anything it rejects.
///
/// Usage:
///   apgen::train::trajectory_writer out("parity.jsonl", {vocab.size(), vocab.mask()});
///   for (const auto& r : apgen::tasks::parity::teacher(vocab, inputs)) out.write(r);
///   apgen::train::trajectory_reader in("parity.jsonl");
///   for (apgen::train::transition_record r; in.next(r);) train_on(r);

#include <apgen/config.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/row_encoding.hpp>
#include <apgen/io/json_parse.hpp>
#include <apgen/io/json_write.hpp>
#include <apgen/train/transition_record.hpp>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <istream>
#include <limits>
#include <memory>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace apgen::train {

/// The value of the header's "format" key for this version of the format: version 2 adds the row encodings (the
/// header's "feature_vocab_sizes" and "allowed_sets", a record's "features" and "allowed"). A file without an
/// encoding is written as version 1, which readers of either version read.
inline constexpr std::string_view trajectory_format = "apgen.transitions/2";
inline constexpr std::string_view trajectory_format_v1 = "apgen.transitions/1";

/// What the optional header line says about every record of a file.
struct trajectory_header {
  std::size_t vocab_size = 0; ///< every token id is below it
  token_id mask = 0;          ///< the MASK id
  feature_schema schema{};    ///< the row encodings' schema (empty: the records carry no encoding)
  friend bool operator==(const trajectory_header&, const trajectory_header&) = default;
};

/// Settings of trajectory_writer.
struct trajectory_writer_options {
  bool header = true; ///< write the header line first (false: header-less lines, like the shared test vectors)
  bool check = true;  ///< check_consistent every record before writing it (a bad record never reaches the file)
};

/// Writes a dataset: the header line (unless turned off), then one line per record. Records keep the key order
/// mask, x, y, remask, insert, delete, [unmask], next, [trajectory], [step]; "unmask" is written only when it
/// differs from the AP-MDM rule (every MASK not remasked or deleted), which is what a reader assumes without it.
class trajectory_writer {
public:
  /// Writes to `out` (kept by reference). Throws invalid_argument for a MASK id outside [0, vocab_size) or a
  /// vocab_size of 0 with a header (0 is allowed header-less: ids are then only checked to be non-negative).
  trajectory_writer(std::ostream& out, trajectory_header header, trajectory_writer_options opt = {})
      : m_out(&out), m_name("trajectory_writer"), m_header(header), m_opt(opt) {
    start();
  }
  /// Creates (or truncates) the file at `path`. Throws invalid_argument when it cannot be opened.
  trajectory_writer(const std::string& path, trajectory_header header, trajectory_writer_options opt = {})
      : m_file(std::make_unique<std::ofstream>(path, std::ios::binary | std::ios::trunc)), m_out(m_file.get()),
        m_name(path), m_header(header), m_opt(opt) {
    if (!*m_file) apgen::detail::fail<invalid_argument>(path, ": cannot open for writing");
    start();
  }

  /// Appends one record. With checking on, an inconsistent or malformed record throws invalid_argument naming its
  /// index (0-based, in write order) and nothing is written; so does a negative trajectory or step. Throws
  /// apgen::error when the stream fails.
  void write(const transition_record& r) {
    if (m_opt.check) {
      try {
        check_consistent(r, m_header.mask, m_header.vocab_size, apgen::detail::message(m_name, ": record ", m_count));
      } catch (const parse_error& e) {
        throw invalid_argument(e.what());
      }
    } else {
      std::size_t got = 0;
      if (const char* field = detail::record_size_error(r, got))
        apgen::detail::fail<invalid_argument>(m_name, ": record ", m_count, ": \"", field, "\" has ", got,
                                              " entries, \"x\" has ", r.x.size());
    }
    check_encoding_fits(r);
    if ((r.trajectory && *r.trajectory < 0) || (r.step && *r.step < 0))
      apgen::detail::fail<invalid_argument>(m_name, ": record ", m_count,
                                            ": \"trajectory\" and \"step\" must not be negative");
    m_line.clear();
    io::json_writer w(m_line);
    w.begin_object().key("mask").value(m_header.mask);
    w.key("x").values(r.x).key("y").values(r.y);
    w.key("remask").values(r.remask).key("insert").values(r.insert).key("delete").values(r.del);
    if (!r.unmask.empty() && r.unmask != ap_mdm_unmask(r.x, r.remask, r.del, m_header.mask))
      w.key("unmask").values(r.unmask);
    w.key("next").values(r.next);
    if (!r.encoding.features.empty()) {
      w.key("features").begin_array();
      for (const auto& f : r.encoding.features) w.values(f);
      w.end_array();
    }
    if (!r.encoding.allowed.empty()) w.key("allowed").values(r.encoding.allowed);
    if (r.trajectory) w.key("trajectory").value(*r.trajectory);
    if (r.step) w.key("step").value(*r.step);
    w.end_object();
    m_line += '\n';
    emit();
    ++m_count;
  }
  /// write(r): a writer is a sink for the teachers (record_trajectories(gen, canvas, writer)).
  void operator()(const transition_record& r) { write(r); }

  void flush() {
    m_out->flush();
    if (!*m_out) apgen::detail::fail<error>(m_name, ": flush failed");
  }
  [[nodiscard]] std::size_t records_written() const noexcept { return m_count; }
  [[nodiscard]] const trajectory_header& header() const noexcept { return m_header; }

private:
  void start() {
    if (m_opt.header && m_header.vocab_size == 0)
      apgen::detail::fail<invalid_argument>(m_name, ": a header needs a vocabulary size above 0");
    if (m_header.mask < 0 ||
        (m_header.vocab_size != 0 && static_cast<std::size_t>(m_header.mask) >= m_header.vocab_size))
      apgen::detail::fail<invalid_argument>(m_name, ": MASK id ", m_header.mask, " is out of range [0, ",
                                            m_header.vocab_size, ")");
    try {
      m_header.schema.validate(m_header.vocab_size, m_header.mask);
    } catch (const invalid_argument& e) {
      apgen::detail::fail<invalid_argument>(m_name, ": ", e.what());
    }
    if (!m_opt.header && !m_header.schema.empty())
      apgen::detail::fail<invalid_argument>(m_name,
                                            ": a feature schema is written in the header line; turn the header on");
    if (!m_opt.header) return;
    m_line.clear();
    io::json_writer w(m_line);
    const feature_schema& schema = m_header.schema;
    w.begin_object().key("format").value(schema.empty() ? trajectory_format_v1 : trajectory_format);
    w.key("vocab_size").value(m_header.vocab_size).key("mask").value(m_header.mask);
    if (!schema.feature_vocab_sizes.empty()) w.key("feature_vocab_sizes").values(schema.feature_vocab_sizes);
    if (!schema.allowed_sets.empty()) {
      w.key("allowed_sets").begin_array();
      for (const auto& set : schema.allowed_sets) w.values(set);
      w.end_array();
    }
    w.end_object();
    m_line += '\n';
    emit();
  }
  /// A record's encoding must be of the header's schema (an empty schema: no encoding at all).
  void check_encoding_fits(const transition_record& r) const {
    const bool has = !r.encoding.features.empty() || !r.encoding.allowed.empty();
    if (!has && m_header.schema.feature_vocab_sizes.empty()) return;
    try {
      validate_encoding(r.encoding, r.x.size(), m_header.schema, apgen::detail::message(m_name, ": record ", m_count));
    } catch (const error& e) {
      throw invalid_argument(e.what());
    }
  }
  void emit() {
    m_out->write(m_line.data(), static_cast<std::streamsize>(m_line.size()));
    if (!*m_out) apgen::detail::fail<error>(m_name, ": write failed after ", m_count, " records");
  }
  std::unique_ptr<std::ofstream> m_file;
  std::ostream* m_out;
  std::string m_name;
  trajectory_header m_header;
  trajectory_writer_options m_opt;
  std::size_t m_count = 0;
  std::string m_line;
};

/// Settings of trajectory_reader.
struct trajectory_reader_options {
  /// Replay every record (check_consistent) and reject one whose "next" is not its transition. Off: records are
  /// still checked for shape (sizes, bits, id ranges), not replayed.
  bool check = true;
  /// Ids must be below it. 0: the header's vocab_size, or, in a header-less file, unknown (ids must then only be
  /// non-negative). Nonzero with a header: the two must agree.
  std::size_t vocab_size = 0;
};

/// Streams the records of a dataset, one line at a time. Every error is an apgen::parse_error whose message
/// starts with "<file> line <n>" (n 1-based, blank lines counted).
class trajectory_reader {
public:
  /// Opens `path` and reads the header line if there is one. Throws parse_error when the file cannot be opened.
  explicit trajectory_reader(const std::string& path, trajectory_reader_options opt = {})
      : m_file(std::make_unique<std::ifstream>(path, std::ios::binary)), m_in(m_file.get()), m_name(path), m_opt(opt) {
    if (!*m_file) apgen::detail::fail<parse_error>(path, ": cannot open file");
    start();
  }
  /// Reads from `in` (kept by reference); `name` stands for the file in messages.
  trajectory_reader(std::istream& in, std::string name, trajectory_reader_options opt = {})
      : m_in(&in), m_name(std::move(name)), m_opt(opt) {
    start();
  }

  /// Reads the next record into `r` (its buffers are reused); false at the end of the input.
  bool next(transition_record& r) {
    if (m_pending) {
      m_pending = false;
    } else if (!read_line()) {
      return false;
    }
    parse_record(r);
    ++m_records;
    return true;
  }

  /// The header, when the first line is one.
  [[nodiscard]] const std::optional<trajectory_header>& header() const noexcept { return m_header; }
  /// The 1-based line of the record last read (or of the header, before any record).
  [[nodiscard]] std::size_t line() const noexcept { return m_line_number; }
  [[nodiscard]] std::size_t records_read() const noexcept { return m_records; }
  /// The MASK id: the header's, else that of the first record (every record of a file must agree); -1 before.
  [[nodiscard]] token_id mask() const noexcept { return m_mask ? *m_mask : -1; }
  /// The vocabulary size ids are checked against (0: unknown).
  [[nodiscard]] std::size_t vocab_size() const noexcept { return m_vocab; }
  [[nodiscard]] const std::string& name() const noexcept { return m_name; }
  /// The header's feature schema, shared so training examples can name it (null without a header).
  [[nodiscard]] std::shared_ptr<const feature_schema> schema() const noexcept { return m_schema; }

private:
  using json_value = io::json_value;

  void start() {
    m_vocab = m_opt.vocab_size;
    if (!read_line()) return;
    m_pending = true;
    json_value doc;
    try {
      doc = parse_line();
    } catch (const parse_error&) {
      return; // not JSON: next() reports it as the first record's error
    }
    if (!doc.is_object() || !doc.find("format")) return; // a record: next() reads it
    m_pending = false;
    const std::string where = location();
    for (const auto& m : doc.as_object())
      if (m.key != "format" && m.key != "vocab_size" && m.key != "mask" && m.key != "feature_vocab_sizes" &&
          m.key != "allowed_sets")
        apgen::detail::fail<parse_error>(where, ": unknown key ", io::detail::json_quote_for_message(m.key),
                                         " in the header");
    const auto& format = doc.at("format", where).as_string(where + ": \"format\"");
    if (format != trajectory_format && format != trajectory_format_v1)
      apgen::detail::fail<parse_error>(where, ": unsupported format ", io::detail::json_quote_for_message(format),
                                       " (this reader reads \"", trajectory_format_v1, "\" and \"", trajectory_format,
                                       "\")");
    const std::int64_t v = require(doc, "vocab_size", "the header").as_int(where + ": \"vocab_size\"");
    const std::int64_t m = require(doc, "mask", "the header").as_int(where + ": \"mask\"");
    if (v <= 0 || v > std::numeric_limits<token_id>::max())
      apgen::detail::fail<parse_error>(where, ": header \"vocab_size\" ", v, " is out of range");
    if (m < 0 || m >= v)
      apgen::detail::fail<parse_error>(where, ": header MASK id ", m, " is out of range [0, ", v, ")");
    m_header = trajectory_header{static_cast<std::size_t>(v), static_cast<token_id>(m)};
    if (format == trajectory_format_v1 && (doc.find("feature_vocab_sizes") || doc.find("allowed_sets")))
      apgen::detail::fail<parse_error>(where, ": a \"", trajectory_format_v1, "\" header carries no feature schema");
    if (const json_value* f = doc.find("feature_vocab_sizes"))
      for (const auto& item : array_of(*f, "feature_vocab_sizes")) {
        const std::int64_t k = item.is_int() ? item.as_int() : 0;
        if (k <= 0 || k > std::numeric_limits<token_id>::max())
          apgen::detail::fail<parse_error>(where, ": \"feature_vocab_sizes\" must hold positive integers");
        m_header->schema.feature_vocab_sizes.push_back(static_cast<std::size_t>(k));
      }
    if (const json_value* a = doc.find("allowed_sets"))
      for (const auto& set : array_of(*a, "allowed_sets")) {
        m_header->schema.allowed_sets.emplace_back();
        tokens_of(set, "allowed_sets", m_header->schema.allowed_sets.back());
      }
    try {
      m_header->schema.validate(static_cast<std::size_t>(v), static_cast<token_id>(m));
    } catch (const invalid_argument& e) {
      apgen::detail::fail<parse_error>(where, ": ", e.what());
    }
    m_schema = std::make_shared<const feature_schema>(m_header->schema);
    if (m_opt.vocab_size != 0 && m_opt.vocab_size != m_header->vocab_size)
      apgen::detail::fail<parse_error>(where, ": header \"vocab_size\" ", v, " differs from the reader's vocab_size ",
                                       m_opt.vocab_size);
    m_vocab = m_header->vocab_size;
    m_mask = m_header->mask;
  }

  /// Reads the next non-blank line into m_text; false at the end.
  bool read_line() {
    for (;;) {
      if (!std::getline(*m_in, m_text)) {
        if (m_in->bad()) apgen::detail::fail<parse_error>(m_name, ": read error after line ", m_line_number);
        return false;
      }
      ++m_line_number;
      if (m_text.find_first_not_of(" \t\r") != std::string::npos) return true;
    }
  }

  [[nodiscard]] std::string location() const { return apgen::detail::message(m_name, " line ", m_line_number); }

  json_value parse_line() const {
    const std::string where = location();
    io::json_parse_options po;
    po.source = where;
    return io::parse_json(m_text, po);
  }

  const json_value& require(const json_value& doc, std::string_view key, std::string_view what) const {
    const json_value* v = doc.find(key);
    if (!v)
      apgen::detail::fail<parse_error>(location(), ": missing key ", io::detail::json_quote_for_message(key), " in ",
                                       what);
    return *v;
  }

  const json_value::array& array_of(const json_value& v, std::string_view key) const {
    if (!v.is_array())
      apgen::detail::fail<parse_error>(location(), ": \"", key, "\" must be an array of integers, found ",
                                       io::json_type_name(v.type()));
    return v.as_array();
  }

  std::int64_t int_at(const json_value& v, std::string_view key, std::size_t i) const {
    if (!v.is_int())
      apgen::detail::fail<parse_error>(location(), ": \"", key, "\"[", i, "] must be an integer, found ",
                                       io::json_type_name(v.type()), " at byte ", v.offset());
    return v.as_int();
  }

  void tokens(const json_value& doc, std::string_view key, std::vector<token_id>& out) const {
    tokens_of(require(doc, key, "the record"), key, out);
  }
  void tokens_of(const json_value& v, std::string_view key, std::vector<token_id>& out) const {
    const auto& a = array_of(v, key);
    out.clear();
    out.reserve(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      const std::int64_t t = int_at(a[i], key, i);
      if (t < std::numeric_limits<token_id>::min() || t > std::numeric_limits<token_id>::max())
        apgen::detail::fail<parse_error>(location(), ": token \"", key, "\"[", i, "] = ", t, " is out of range");
      out.push_back(static_cast<token_id>(t));
    }
  }

  void bits(const json_value& v, std::string_view key, std::vector<std::uint8_t>& out) const {
    const auto& a = array_of(v, key);
    out.clear();
    out.reserve(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      const std::int64_t b = int_at(a[i], key, i);
      if (b != 0 && b != 1)
        apgen::detail::fail<parse_error>(location(), ": \"", key, "\"[", i, "] is ", b, ", expected 0 or 1");
      out.push_back(static_cast<std::uint8_t>(b));
    }
  }

  std::optional<std::int64_t> count_field(const json_value& doc, std::string_view key) const {
    const json_value* v = doc.find(key);
    if (!v) return std::nullopt;
    if (!v->is_int() || v->as_int() < 0)
      apgen::detail::fail<parse_error>(location(), ": \"", key, "\" must be a non-negative integer");
    return v->as_int();
  }

  /// The record's "features" and "allowed", checked against the header's schema (with a header), else for shape.
  void read_encoding(const json_value& doc, transition_record& r) const {
    r.encoding.features.clear();
    r.encoding.allowed.clear();
    if (const json_value* f = doc.find("features")) {
      const auto& rows = array_of(*f, "features");
      r.encoding.features.resize(rows.size());
      for (std::size_t k = 0; k < rows.size(); ++k) tokens_of(rows[k], "features", r.encoding.features[k]);
    }
    if (const json_value* a = doc.find("allowed")) {
      const auto& items = array_of(*a, "allowed");
      for (std::size_t i = 0; i < items.size(); ++i) {
        const std::int64_t c = int_at(items[i], "allowed", i);
        if (c < 0 || c > 0xfffe)
          apgen::detail::fail<parse_error>(location(), ": \"allowed\"[", i, "] = ", c, " is not a class number");
        r.encoding.allowed.push_back(static_cast<std::uint16_t>(c));
      }
    }
    if (!m_header) return; // shape only: validate() checks the sizes
    const bool has = !r.encoding.features.empty() || !r.encoding.allowed.empty();
    if (!has && m_header->schema.feature_vocab_sizes.empty()) return;
    try {
      validate_encoding(r.encoding, r.x.size(), m_header->schema, location());
    } catch (const error& e) {
      apgen::detail::fail<parse_error>(e.what());
    }
  }

  void parse_record(transition_record& r) {
    const json_value doc = parse_line();
    const std::string where = location();
    if (!doc.is_object())
      apgen::detail::fail<parse_error>(where, ": expected a JSON object (one transition record), found ",
                                       io::json_type_name(doc.type()));
    static constexpr std::string_view known[] = {"mask",   "x",    "y",          "remask", "insert",   "delete",
                                                 "unmask", "next", "trajectory", "step",   "features", "allowed"};
    for (const auto& m : doc.as_object()) {
      bool ok = false;
      for (auto k : known) ok = ok || m.key == k;
      if (!ok) {
        if (m.key == "format")
          apgen::detail::fail<parse_error>(where, ": a header line (\"format\") may only be the first line of a file");
        apgen::detail::fail<parse_error>(where, ": unknown key ", io::detail::json_quote_for_message(m.key));
      }
    }
    // The MASK id: the record's if present, which must agree with the header or the first record.
    if (const json_value* m = doc.find("mask")) {
      if (!m->is_int() || m->as_int() < 0 || m->as_int() > std::numeric_limits<token_id>::max())
        apgen::detail::fail<parse_error>(where, ": \"mask\" must be a non-negative integer id");
      const auto id = static_cast<token_id>(m->as_int());
      if (m_mask && *m_mask != id)
        apgen::detail::fail<parse_error>(where, ": \"mask\" is ", id, " but the ",
                                         m_header ? "header" : "file's first record", " says ", *m_mask);
      m_mask = id;
    } else if (!m_mask) {
      apgen::detail::fail<parse_error>(where, ": missing key \"mask\" (required without a header line)");
    }
    tokens(doc, "x", r.x);
    tokens(doc, "y", r.y);
    bits(require(doc, "remask", "the record"), "remask", r.remask);
    bits(require(doc, "insert", "the record"), "insert", r.insert);
    bits(require(doc, "delete", "the record"), "delete", r.del);
    if (const json_value* u = doc.find("unmask")) {
      bits(*u, "unmask", r.unmask);
      if (r.unmask.size() != r.x.size()) // an explicit [] must not read as "the AP-MDM rule"
        apgen::detail::fail<parse_error>(where, ": \"unmask\" has ", r.unmask.size(), " entries, \"x\" has ",
                                         r.x.size());
    } else {
      r.unmask.clear();
    }
    tokens(doc, "next", r.next);
    r.trajectory = count_field(doc, "trajectory");
    r.step = count_field(doc, "step");
    read_encoding(doc, r);
    if (m_opt.check)
      check_consistent(r, *m_mask, m_vocab, where);
    else
      validate(r, *m_mask, m_vocab, where);
    if (r.unmask.empty()) r.unmask = ap_mdm_unmask(r.x, r.remask, r.del, *m_mask);
  }

  std::unique_ptr<std::ifstream> m_file;
  std::istream* m_in;
  std::string m_name;
  trajectory_reader_options m_opt;
  std::optional<trajectory_header> m_header;
  std::shared_ptr<const feature_schema> m_schema;
  std::optional<token_id> m_mask;
  std::size_t m_vocab = 0;
  std::string m_text;
  bool m_pending = false;
  std::size_t m_line_number = 0;
  std::size_t m_records = 0;
};

} // namespace apgen::train
