#pragma once
/// \file
/// The JSON value (RFC 8259 types, objects in document order) that the reader produces and the writer prints,
/// and the helpers both need: quoting for error messages and UTF-8 validation. io/json_parse.hpp reads text into
/// a json_value, io/json_write.hpp writes one (or streams a document without building one); io/json.hpp is all
/// three.

#include <apgen/core/errors.hpp>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

namespace apgen::io {

/// The JSON types; `integer` and `number` split JSON numbers into exact integers and doubles.
enum class json_type { null, boolean, integer, number, string, array, object };

/// The name used in messages: "null", "boolean", "integer", "number", "string", "array", "object".
[[nodiscard]] constexpr std::string_view json_type_name(json_type t) noexcept {
  switch (t) {
  case json_type::null:
    return "null";
  case json_type::boolean:
    return "boolean";
  case json_type::integer:
    return "integer";
  case json_type::number:
    return "number";
  case json_type::string:
    return "string";
  case json_type::array:
    return "array";
  case json_type::object:
    return "object";
  }
  return "?";
}

struct json_member;

/// One JSON value. Objects keep their members in document order (keys are unique after parse_json); lookups are
/// linear, which suits the small objects this library reads. Accessors take the value's path (for messages) and
/// throw apgen::parse_error naming that path, the expected and actual types and the value's byte offset.
class json_value {
public:
  using array = std::vector<json_value>;
  using object = std::vector<json_member>;

  // The constructors are defined after json_member, which they need complete.
  /// null.
  json_value() noexcept = default;
  json_value(std::nullptr_t) noexcept;
  json_value(bool b) noexcept;
  /// Any integer type but bool; an unsigned value above INT64_MAX throws apgen::invalid_argument.
  template <std::integral Int>
  requires(!std::same_as<Int, bool>) json_value(Int v);
  json_value(double v) noexcept;
  json_value(std::string s) noexcept;
  json_value(std::string_view s);
  json_value(const char* s);
  json_value(array a) noexcept;
  json_value(object o) noexcept;

  [[nodiscard]] json_type type() const noexcept { return static_cast<json_type>(m_data.index()); }
  [[nodiscard]] bool is_null() const noexcept { return type() == json_type::null; }
  [[nodiscard]] bool is_bool() const noexcept { return type() == json_type::boolean; }
  [[nodiscard]] bool is_int() const noexcept { return type() == json_type::integer; }
  /// True for both integers and doubles.
  [[nodiscard]] bool is_number() const noexcept { return type() == json_type::integer || type() == json_type::number; }
  [[nodiscard]] bool is_string() const noexcept { return type() == json_type::string; }
  [[nodiscard]] bool is_array() const noexcept { return type() == json_type::array; }
  [[nodiscard]] bool is_object() const noexcept { return type() == json_type::object; }

  [[nodiscard]] bool as_bool(std::string_view path = "value") const { return get<bool>(path, json_type::boolean); }
  /// An integer written without fraction or exponent; 2.0 is a number, not an integer, and is refused here.
  [[nodiscard]] std::int64_t as_int(std::string_view path = "value") const {
    return get<std::int64_t>(path, json_type::integer);
  }
  /// Any number; an integer converts to the nearest double.
  [[nodiscard]] double as_double(std::string_view path = "value") const {
    if (const auto* i = std::get_if<std::int64_t>(&m_data)) return static_cast<double>(*i);
    return get<double>(path, json_type::number);
  }
  [[nodiscard]] const std::string& as_string(std::string_view path = "value") const {
    return get<std::string>(path, json_type::string);
  }
  [[nodiscard]] const array& as_array(std::string_view path = "value") const {
    return get<array>(path, json_type::array);
  }
  [[nodiscard]] const object& as_object(std::string_view path = "value") const {
    return get<object>(path, json_type::object);
  }
  [[nodiscard]] array& as_array(std::string_view path = "value") { return get<array>(path, json_type::array); }
  [[nodiscard]] object& as_object(std::string_view path = "value") { return get<object>(path, json_type::object); }

  /// The member named `key`, or nullptr when this is not an object or has no such member.
  [[nodiscard]] const json_value* find(std::string_view key) const noexcept;
  /// The member named `key`; throws parse_error "<path>: missing key "<key>"" (or a type error when not an object).
  [[nodiscard]] const json_value& at(std::string_view key, std::string_view path = "value") const;

  /// Byte offset at which this value starts in the parsed text (plus json_parse_options::base_offset); 0 for
  /// values built in code.
  [[nodiscard]] std::size_t offset() const noexcept { return m_offset; }
  void set_offset(std::size_t offset) noexcept { m_offset = offset; }

  /// Structural equality (offsets ignored; 1 and 1.0 differ, as their types do).
  friend bool operator==(const json_value& a, const json_value& b);

private:
  template <class Int>
  static std::int64_t to_int64(Int v) {
    if constexpr (std::is_unsigned_v<Int> && sizeof(Int) >= sizeof(std::int64_t)) {
      if (v > static_cast<Int>(std::numeric_limits<std::int64_t>::max()))
        apgen::detail::fail<invalid_argument>("json_value: integer ", v, " does not fit int64");
    }
    return static_cast<std::int64_t>(v);
  }

  template <class T>
  const T& get(std::string_view path, json_type want) const {
    if (const auto* p = std::get_if<T>(&m_data)) return *p;
    type_error(path, want);
  }
  template <class T>
  T& get(std::string_view path, json_type want) {
    if (auto* p = std::get_if<T>(&m_data)) return *p;
    type_error(path, want);
  }
  [[noreturn]] void type_error(std::string_view path, json_type want) const {
    apgen::detail::fail<parse_error>(path, ": expected ", json_type_name(want), ", found ", json_type_name(type()),
                                     " at byte ", m_offset);
  }

  // The alternatives' order is json_type's order: type() is the index.
  std::variant<std::monostate, bool, std::int64_t, double, std::string, array, object> m_data;
  std::size_t m_offset = 0;
};

/// One member of a JSON object.
struct json_member {
  std::string key;
  json_value value;
  friend bool operator==(const json_member&, const json_member&) = default;
};

inline json_value::json_value(std::nullptr_t) noexcept {}
inline json_value::json_value(bool b) noexcept : m_data(b) {}
template <std::integral Int>
requires(!std::same_as<Int, bool>) json_value::json_value(Int v) : m_data(to_int64(v)) {}
inline json_value::json_value(double v) noexcept : m_data(v) {}
inline json_value::json_value(std::string s) noexcept : m_data(std::move(s)) {}
inline json_value::json_value(std::string_view s) : m_data(std::string(s)) {}
inline json_value::json_value(const char* s) : m_data(std::string(s)) {}
inline json_value::json_value(array a) noexcept : m_data(std::move(a)) {}
inline json_value::json_value(object o) noexcept : m_data(std::move(o)) {}

inline const json_value* json_value::find(std::string_view key) const noexcept {
  const auto* obj = std::get_if<object>(&m_data);
  if (!obj) return nullptr;
  for (const auto& m : *obj)
    if (m.key == key) return &m.value;
  return nullptr;
}

inline bool operator==(const json_value& a, const json_value& b) {
  return a.m_data == b.m_data;
}

namespace detail {

/// `s` as a quoted JSON string for error messages: never throws on bad bytes (they appear as \xNN), and cut at
/// `max_bytes` so a huge key cannot swamp a message.
[[nodiscard]] inline std::string json_quote_for_message(std::string_view s, std::size_t max_bytes = 200) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "\"";
  const std::size_t n = std::min(s.size(), max_bytes);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > n) out += "...";
  out += '"';
  return out;
}

/// Length of the valid UTF-8 sequence starting at s[i], or 0 with `why` set (Unicode table 3-7: no overlong
/// forms, no surrogates D800-DFFF, nothing above U+10FFFF, no truncated sequences).
[[nodiscard]] inline std::size_t utf8_sequence_length(std::string_view s, std::size_t i, const char*& why) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) return 1;
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xbf; // allowed range of the second byte
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    len = 2;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    len = 3;
    if (b0 == 0xe0) lo = 0xa0;
    if (b0 == 0xed) hi = 0x9f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    len = 4;
    if (b0 == 0xf0) lo = 0x90;
    if (b0 == 0xf4) hi = 0x8f;
  } else {
    why = (b0 == 0xc0 || b0 == 0xc1)   ? "invalid UTF-8 (overlong encoding)"
          : (b0 >= 0x80 && b0 <= 0xbf) ? "invalid UTF-8 (unexpected continuation byte)"
                                       : "invalid UTF-8 (byte outside any encoding)";
    return 0;
  }
  if (s.size() - i < len) {
    why = "invalid UTF-8 (truncated sequence)";
    return 0;
  }
  const unsigned char b1 = byte(i + 1);
  if (b1 < lo || b1 > hi) {
    if (b1 < 0x80 || b1 > 0xbf)
      why = "invalid UTF-8 (truncated sequence)";
    else if (b0 == 0xed)
      why = "invalid UTF-8 (encoded surrogate)";
    else if (b0 == 0xf4)
      why = "invalid UTF-8 (code point above U+10FFFF)";
    else
      why = "invalid UTF-8 (overlong encoding)";
    return 0;
  }
  for (std::size_t k = 2; k < len; ++k) {
    const unsigned char b = byte(i + k);
    if (b < 0x80 || b > 0xbf) {
      why = "invalid UTF-8 (truncated sequence)";
      return 0;
    }
  }
  return len;
}

} // namespace detail

inline const json_value& json_value::at(std::string_view key, std::string_view path) const {
  const auto& obj = as_object(path);
  for (const auto& m : obj)
    if (m.key == key) return m.value;
  apgen::detail::fail<parse_error>(path, ": missing key ", detail::json_quote_for_message(key), " in object at byte ",
                                   m_offset);
}

} // namespace apgen::io
