#pragma once
/// \file
/// Reading and writing the safetensors format (https://github.com/huggingface/safetensors):
///
///   bytes [0, 8)        N, the header size, unsigned 64-bit little-endian
///   bytes [8, 8 + N)    UTF-8 JSON object: tensor name -> {"dtype": "F32", "shape": [2, 3],
///                       "data_offsets": [begin, end]}, plus an optional "__metadata__": {string: string}
///   bytes [8 + N, ...)  the data section; a tensor's bytes are [begin, end) relative to its start, little-endian,
///                       row-major
///
/// Loading converts every tensor to float: F32 as stored, F16 (IEEE binary16, subnormals, infinities and NaNs
/// included) and BF16 exactly. Every other dtype of the format (F64, I64, I32, U8, BOOL, F8_*, ...) is refused
/// with a parse_error naming the tensor and the dtype; converting those to float would be lossy or meaningless
/// for weights, so a caller that needs them should say so explicitly rather than get a silent conversion.
///
/// Reading validates everything before it allocates anything sized by the file: the header size against the
/// file size and a 100 MB limit (the reference implementation's), then every entry (types, dtype, shape, offsets
/// inside the data section, byte length == elements x dtype size, no two tensors sharing a byte). Each failure is
/// an apgen::parse_error whose message names the file, the tensor and the problem. No input makes the reader
/// crash or read out of bounds; fuzz/fuzz_safetensors.cpp checks that under ASan and UBSan.
///
/// Deliberately more lenient than the reference implementation (which requires the tensors to tile the data
/// section exactly): bytes of the data section that no tensor covers (gaps, trailing bytes) are allowed and
/// ignored, tensors may be stored in any order, and unknown keys inside a tensor entry are ignored.
///
/// Usage:
///   apgen::io::write_safetensors("w.safetensors", {{"w", {2, 3}, values}}, {{"step", "100"}},
///                                apgen::io::dtype::bf16);
///   const auto file = apgen::io::safetensors_file::read("w.safetensors");
///   const auto& w = file.get("w", {2, 3}); // throws shape_mismatch unless w is 2x3

#include <apgen/core/errors.hpp>
#include <apgen/io/json.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace apgen::io {

// ---------------------------------------------------------------------------------------------------------------
// Storage types and their exact conversions.

/// The storage types apgen reads and writes.
enum class dtype { f32, f16, bf16 };

/// The safetensors name: "F32", "F16", "BF16".
[[nodiscard]] constexpr std::string_view dtype_name(dtype t) noexcept {
  switch (t) {
  case dtype::f32:
    return "F32";
  case dtype::f16:
    return "F16";
  case dtype::bf16:
    return "BF16";
  }
  return "?";
}

/// Bytes per element.
[[nodiscard]] constexpr std::size_t dtype_size(dtype t) noexcept {
  return t == dtype::f32 ? 4 : 2;
}

/// The dtype with safetensors name `name`, or nullopt for any other name (supported or not).
[[nodiscard]] constexpr std::optional<dtype> dtype_from_name(std::string_view name) noexcept {
  if (name == "F32") return dtype::f32;
  if (name == "F16") return dtype::f16;
  if (name == "BF16") return dtype::bf16;
  return std::nullopt;
}

/// IEEE binary16 bits to float, exactly (every half is a float): subnormals scaled, infinities kept, NaN payloads
/// kept in the top mantissa bits.
[[nodiscard]] inline float half_to_float(std::uint16_t h) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu;
  const std::uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
  if (exp != 0) return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
  // Zero or subnormal: mant x 2^-24, exact in float (mant < 2^10).
  const float magnitude = static_cast<float>(mant) * 0x1p-24f;
  return sign ? -magnitude : magnitude;
}

/// float to IEEE binary16 bits, rounding to nearest, ties to even (the default IEEE rounding and what a
/// `(_Float16)x` cast does): overflow gives infinity, tiny values become subnormal or zero, NaN stays a (quiet)
/// NaN with the sign and the top payload bits kept.
[[nodiscard]] inline std::uint16_t float_to_half(float value) noexcept {
  std::uint32_t f = std::bit_cast<std::uint32_t>(value);
  const auto sign = static_cast<std::uint16_t>((f >> 16) & 0x8000u);
  f &= 0x7fffffffu;
  if (f >= 0x7f800000u) // infinity or NaN
    return static_cast<std::uint16_t>(sign | 0x7c00u | (f > 0x7f800000u ? 0x200u | ((f >> 13) & 0x3ffu) : 0u));
  if (f >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u); // >= 65520 rounds to infinity
  if (f < 0x38800000u) {                                                   // below 2^-14: subnormal half or zero
    const std::uint32_t e = f >> 23;
    if (e < 102) return sign; // below 2^-25, half of the smallest subnormal: rounds to zero
    const std::uint32_t m = (f & 0x7fffffu) | 0x800000u;
    const std::uint32_t shift = 126 - e; // 14..24
    std::uint32_t q = m >> shift;
    const std::uint32_t rem = m & ((1u << shift) - 1u);
    const std::uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (q & 1u))) ++q; // may carry into the smallest normal, correctly
    return static_cast<std::uint16_t>(sign | q);
  }
  std::uint32_t h = (((f >> 23) - 112u) << 10) | ((f >> 13) & 0x3ffu);
  const std::uint32_t rem = f & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h; // a carry into the exponent is the correct result
  return static_cast<std::uint16_t>(sign | h);
}

/// bfloat16 bits to float, exactly (bfloat16 is the top half of a float).
[[nodiscard]] inline float bfloat16_to_float(std::uint16_t b) noexcept {
  return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

/// float to bfloat16 bits, rounding to nearest, ties to even; NaN stays a quiet NaN with its sign.
[[nodiscard]] inline std::uint16_t float_to_bfloat16(float value) noexcept {
  const std::uint32_t f = std::bit_cast<std::uint32_t>(value);
  if ((f & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((f >> 16) | 0x40u);
  return static_cast<std::uint16_t>((f + 0x7fffu + ((f >> 16) & 1u)) >> 16);
}

// ---------------------------------------------------------------------------------------------------------------
// Tensors.

/// One tensor as loaded: data converted to float, row-major, `data.size()` == product of `shape` (1 for a
/// scalar, shape {}). `source_dtype` is the stored dtype's name ("F32", "F16", "BF16").
struct tensor {
  std::string name;
  std::vector<std::size_t> shape;
  std::vector<float> data;
  std::string source_dtype;
};

/// What write_safetensors stores: a name, a shape and float data it does not own (the shape is copied; it is
/// small). Built from a tensor or from its three parts: `tensor_view{"w", {2, 3}, values}`.
struct tensor_view {
  std::string_view name;
  std::vector<std::size_t> shape;
  std::span<const float> data;

  tensor_view(std::string_view n, std::vector<std::size_t> s, std::span<const float> d)
      : name(n), shape(std::move(s)), data(d) {}
  tensor_view(const tensor& t) : name(t.name), shape(t.shape), data(t.data) {}
};

/// The largest header read_safetensors accepts, in bytes (the reference implementation's limit).
inline constexpr std::uint64_t safetensors_max_header_size = 100'000'000;

namespace detail {

[[nodiscard]] inline std::string shape_string(std::span<const std::size_t> shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

/// Product of `shape`, or nullopt when it overflows size_t (a zero anywhere makes it 0, never an overflow).
[[nodiscard]] inline std::optional<std::size_t> shape_elements(std::span<const std::size_t> shape) noexcept {
  if (std::find(shape.begin(), shape.end(), std::size_t{0}) != shape.end()) return std::size_t{0};
  std::size_t n = 1;
  for (const std::size_t d : shape) {
    if (n > std::numeric_limits<std::size_t>::max() / d) return std::nullopt;
    n *= d;
  }
  return n;
}

[[nodiscard]] inline std::uint64_t load_le64(const std::byte* p) noexcept {
  std::uint64_t v = 0;
  for (int k = 7; k >= 0; --k) v = (v << 8) | std::to_integer<std::uint64_t>(p[k]);
  return v;
}

inline void store_le(std::byte* p, std::uint64_t v, std::size_t bytes) noexcept {
  for (std::size_t k = 0; k < bytes; ++k) p[k] = static_cast<std::byte>((v >> (8 * k)) & 0xffu);
}

/// Decodes `count` little-endian elements of `type` at `src` into floats.
inline void decode_elements(dtype type, const std::byte* src, std::size_t count, float* dst) noexcept {
  const auto u8 = [&](std::size_t k) { return std::to_integer<std::uint32_t>(src[k]); };
  switch (type) {
  case dtype::f32:
    if constexpr (std::endian::native == std::endian::little) {
      if (count) std::memcpy(dst, src, count * 4);
    } else {
      for (std::size_t i = 0; i < count; ++i)
        dst[i] = std::bit_cast<float>(u8(4 * i) | u8(4 * i + 1) << 8 | u8(4 * i + 2) << 16 | u8(4 * i + 3) << 24);
    }
    return;
  case dtype::f16:
    for (std::size_t i = 0; i < count; ++i)
      dst[i] = half_to_float(static_cast<std::uint16_t>(u8(2 * i) | u8(2 * i + 1) << 8));
    return;
  case dtype::bf16:
    for (std::size_t i = 0; i < count; ++i)
      dst[i] = bfloat16_to_float(static_cast<std::uint16_t>(u8(2 * i) | u8(2 * i + 1) << 8));
    return;
  }
}

/// Encodes floats as little-endian `type` (rounding to nearest even for F16 and BF16).
inline void encode_elements(dtype type, const float* src, std::size_t count, std::byte* dst) noexcept {
  for (std::size_t i = 0; i < count; ++i) {
    switch (type) {
    case dtype::f32:
      store_le(dst + 4 * i, std::bit_cast<std::uint32_t>(src[i]), 4);
      break;
    case dtype::f16:
      store_le(dst + 2 * i, float_to_half(src[i]), 2);
      break;
    case dtype::bf16:
      store_le(dst + 2 * i, float_to_bfloat16(src[i]), 2);
      break;
    }
  }
}

/// One validated header entry.
struct safetensors_entry {
  std::string name;
  dtype type = dtype::f32;
  std::vector<std::size_t> shape;
  std::size_t elements = 0;
  std::uint64_t begin = 0, end = 0; // relative to the data section
};

struct safetensors_header {
  std::vector<safetensors_entry> entries;
  std::map<std::string, std::string> metadata;
};

/// Validates the 8-byte size field against the file size; returns N.
[[nodiscard]] inline std::uint64_t check_safetensors_header_size(std::uint64_t header_size, std::uint64_t file_size,
                                                                 std::string_view source) {
  if (header_size > safetensors_max_header_size)
    apgen::detail::fail<parse_error>(source, ": header size ", header_size, " is larger than the ",
                                     safetensors_max_header_size, "-byte limit (not a safetensors file?)");
  if (header_size > file_size - 8)
    apgen::detail::fail<parse_error>(source, ": header size ", header_size, " is larger than the ", file_size - 8,
                                     " bytes that follow the 8-byte size field (truncated file?)");
  return header_size;
}

inline void check_file_size(std::uint64_t file_size, std::string_view source) {
  if (file_size < 8)
    apgen::detail::fail<parse_error>(source, ": file is ", file_size,
                                     " bytes, shorter than the 8-byte header size field (truncated file?)");
}

/// Parses and validates the header JSON (which starts at byte 8 of the file) against a data section of
/// `data_size` bytes.
[[nodiscard]] inline safetensors_header parse_safetensors_header(std::string_view text, std::uint64_t data_size,
                                                                 std::string_view source) {
  using apgen::detail::fail;
  const std::string context = apgen::detail::message(source, ": header");
  const json_value doc = parse_json(text, json_parse_options{.max_depth = 64, .base_offset = 8, .source = context});
  if (!doc.is_object())
    fail<parse_error>(source, ": header is not a JSON object (found ", json_type_name(doc.type()), " at byte ",
                      doc.offset(), ")");

  safetensors_header header;
  for (const json_member& member : doc.as_object()) {
    const std::string& key = member.key;
    const json_value& value = member.value; // not a structured binding: clang 14 cannot capture those
    if (key == "__metadata__") {
      if (!value.is_object())
        fail<parse_error>(source, ": \"__metadata__\" must be an object of strings, found ",
                          json_type_name(value.type()), " at byte ", value.offset());
      for (const auto& [mk, mv] : value.as_object()) {
        if (!mv.is_string())
          fail<parse_error>(source, ": \"__metadata__\" value for key ", json_quote_for_message(mk),
                            " must be a string, found ", json_type_name(mv.type()), " at byte ", mv.offset());
        header.metadata.emplace(mk, mv.as_string());
      }
      continue;
    }

    const std::string who = apgen::detail::message(source, ": tensor ", json_quote_for_message(key));
    if (!value.is_object())
      fail<parse_error>(who, ": entry must be an object, found ", json_type_name(value.type()), " at byte ",
                        value.offset());
    const auto field = [&](std::string_view name, json_type want) -> const json_value& {
      const json_value* f = value.find(name);
      if (!f) fail<parse_error>(who, ": missing \"", name, "\" in entry at byte ", value.offset());
      if (f->type() != want)
        fail<parse_error>(who, ": \"", name, "\" must be ", want == json_type::string ? "a string" : "an array",
                          ", found ", json_type_name(f->type()), " at byte ", f->offset());
      return *f;
    };
    // Every array element here must be an integer >= 0 that fits size_t / uint64.
    const auto non_negative = [&](const json_value& v, std::string_view what, std::size_t index) -> std::uint64_t {
      if (!v.is_int())
        fail<parse_error>(who, ": \"", what, "\" element ", index, " must be a non-negative integer, found ",
                          json_type_name(v.type()), " at byte ", v.offset());
      const std::int64_t i = v.as_int();
      if (i < 0)
        fail<parse_error>(who, ": \"", what, "\" element ", index, " is negative (", i, ") at byte ", v.offset());
      if (static_cast<std::uint64_t>(i) > std::numeric_limits<std::size_t>::max())
        fail<parse_error>(who, ": \"", what, "\" element ", index, " (", i, ") does not fit size_t");
      return static_cast<std::uint64_t>(i);
    };

    safetensors_entry entry;
    entry.name = key;

    const json_value& dt = field("dtype", json_type::string);
    const auto type = dtype_from_name(dt.as_string());
    if (!type) {
      static constexpr std::array<std::string_view, 17> other_known = {
          "BOOL", "U8",  "I8", "I16",     "U16",     "I32",     "U32",     "I64",    "U64",
          "F64",  "C64", "F4", "F6_E2M3", "F6_E3M2", "F8_E5M2", "F8_E4M3", "F8_E8M0"};
      if (std::find(other_known.begin(), other_known.end(), dt.as_string()) != other_known.end())
        fail<parse_error>(who, ": dtype ", dt.as_string(), " is not supported (apgen reads F32, F16 and BF16)");
      fail<parse_error>(who, ": unknown dtype ", json_quote_for_message(dt.as_string()), " at byte ", dt.offset());
    }
    entry.type = *type;

    const json_value& shape = field("shape", json_type::array);
    for (std::size_t i = 0; i < shape.as_array().size(); ++i)
      entry.shape.push_back(static_cast<std::size_t>(non_negative(shape.as_array()[i], "shape", i)));
    const auto elements = shape_elements(entry.shape);
    if (!elements || *elements > std::numeric_limits<std::size_t>::max() / dtype_size(entry.type))
      fail<parse_error>(who, ": shape ", shape_string(entry.shape), " has too many elements (overflows size_t)");
    entry.elements = *elements;

    const json_value& offsets = field("data_offsets", json_type::array);
    if (offsets.as_array().size() != 2)
      fail<parse_error>(who, ": \"data_offsets\" must be [begin, end], found ", offsets.as_array().size(),
                        " elements at byte ", offsets.offset());
    entry.begin = non_negative(offsets.as_array()[0], "data_offsets", 0);
    entry.end = non_negative(offsets.as_array()[1], "data_offsets", 1);
    if (entry.begin > entry.end)
      fail<parse_error>(who, ": data_offsets [", entry.begin, ", ", entry.end, "] has begin > end");
    if (entry.end > data_size)
      fail<parse_error>(who, ": data_offsets end ", entry.end, " is past the end of the data section (", data_size,
                        " bytes)");
    const std::uint64_t needed = static_cast<std::uint64_t>(entry.elements) * dtype_size(entry.type);
    if (entry.end - entry.begin != needed)
      fail<parse_error>(who, ": data_offsets [", entry.begin, ", ", entry.end, "] hold ", entry.end - entry.begin,
                        " bytes but shape ", shape_string(entry.shape), " of ", dtype_name(entry.type), " needs ",
                        needed);
    header.entries.push_back(std::move(entry));
  }

  // No byte may belong to two tensors. Empty tensors own no bytes; bytes no tensor owns are allowed (see \file).
  std::vector<const safetensors_entry*> by_begin;
  for (const auto& e : header.entries)
    if (e.begin != e.end) by_begin.push_back(&e);
  std::sort(by_begin.begin(), by_begin.end(),
            [](const auto* a, const auto* b) { return a->begin != b->begin ? a->begin < b->begin : a->end < b->end; });
  for (std::size_t k = 1; k < by_begin.size(); ++k) {
    const auto* a = by_begin[k - 1];
    const auto* b = by_begin[k];
    if (b->begin < a->end)
      fail<parse_error>(source, ": tensors ", json_quote_for_message(a->name), " [", a->begin, ", ", a->end, ") and ",
                        json_quote_for_message(b->name), " [", b->begin, ", ", b->end, ") overlap");
  }
  return header;
}

} // namespace detail

// ---------------------------------------------------------------------------------------------------------------
// Reading.

/// A loaded safetensors file: every tensor converted to float, plus the header's "__metadata__".
class safetensors_file {
public:
  /// Reads and validates `path`; throws apgen::parse_error when it cannot be opened or read or is malformed (see
  /// \file for what is checked). Seeks to each tensor, so memory is the tensors' float data plus the header.
  [[nodiscard]] static safetensors_file read(const std::string& path) {
    using apgen::detail::fail;
    std::error_code kind_error;
    const auto kind = std::filesystem::status(path, kind_error).type();
    if (kind == std::filesystem::file_type::directory)
      fail<parse_error>(path, ": is a directory, not a safetensors file");
    if (!kind_error && kind != std::filesystem::file_type::regular && kind != std::filesystem::file_type::not_found)
      fail<parse_error>(path, ": is not a regular file");
    std::ifstream in(path, std::ios::binary);
    if (!in) fail<parse_error>(path, ": cannot open file");
    in.seekg(0, std::ios::end);
    const std::streamoff end = in.tellg();
    if (end < 0) fail<parse_error>(path, ": cannot determine the file size");
    const auto file_size = static_cast<std::uint64_t>(end);
    detail::check_file_size(file_size, path);
    in.seekg(0);
    std::array<std::byte, 8> size_field{};
    read_exact(in, size_field.data(), 8, path);
    const std::uint64_t n =
        detail::check_safetensors_header_size(detail::load_le64(size_field.data()), file_size, path);
    std::string text(static_cast<std::size_t>(n), '\0');
    read_exact(in, text.data(), text.size(), path);
    const std::uint64_t data_start = 8 + n;

    safetensors_file out;
    out.m_source = path;
    auto header = detail::parse_safetensors_header(text, file_size - data_start, path);
    std::vector<std::byte> raw;
    for (auto& e : header.entries) {
      tensor t = make_tensor(e);
      in.seekg(static_cast<std::streamoff>(data_start + e.begin));
      if (e.type == dtype::f32 && std::endian::native == std::endian::little) {
        read_exact(in, t.data.data(), t.data.size() * 4, path); // float's bytes are the file's bytes
      } else {
        raw.resize(static_cast<std::size_t>(e.end - e.begin));
        read_exact(in, raw.data(), raw.size(), path);
        detail::decode_elements(e.type, raw.data(), t.data.size(), t.data.data());
      }
      out.m_tensors.emplace(t.name, std::move(t));
    }
    out.m_metadata = std::move(header.metadata);
    return out;
  }

  /// Parses and validates a safetensors image held in memory; `source_name` starts every error message.
  [[nodiscard]] static safetensors_file parse(std::span<const std::byte> bytes,
                                              std::string_view source_name = "<memory>") {
    detail::check_file_size(bytes.size(), source_name);
    const std::uint64_t n =
        detail::check_safetensors_header_size(detail::load_le64(bytes.data()), bytes.size(), source_name);
    const std::string_view text(reinterpret_cast<const char*>(bytes.data() + 8), static_cast<std::size_t>(n));
    const std::span<const std::byte> data = bytes.subspan(8 + static_cast<std::size_t>(n));

    safetensors_file out;
    out.m_source = std::string(source_name);
    auto header = detail::parse_safetensors_header(text, data.size(), source_name);
    for (auto& e : header.entries) {
      tensor t = make_tensor(e);
      detail::decode_elements(e.type, data.data() + e.begin, t.data.size(), t.data.data());
      out.m_tensors.emplace(t.name, std::move(t));
    }
    out.m_metadata = std::move(header.metadata);
    return out;
  }

  /// The header's "__metadata__" (empty when absent).
  [[nodiscard]] const std::map<std::string, std::string>& metadata() const noexcept { return m_metadata; }

  [[nodiscard]] bool contains(std::string_view name) const { return m_tensors.find(name) != m_tensors.end(); }

  /// The tensor named `name`; throws apgen::invalid_argument naming it (and some of the names present) if absent.
  [[nodiscard]] const tensor& get(std::string_view name) const {
    const auto it = m_tensors.find(name);
    if (it == m_tensors.end()) missing(name);
    return it->second;
  }

  /// The tensor named `name`, which must have shape `expected_shape`; throws apgen::shape_mismatch naming the
  /// tensor, the expected and the actual shape otherwise.
  [[nodiscard]] const tensor& get(std::string_view name, const std::vector<std::size_t>& expected_shape) const {
    const tensor& t = get(name);
    if (t.shape != expected_shape)
      apgen::detail::fail<shape_mismatch>(m_source, ": tensor ", detail::json_quote_for_message(name), " has shape ",
                                          detail::shape_string(t.shape), ", expected ",
                                          detail::shape_string(expected_shape));
    return t;
  }

  /// Every tensor name, sorted.
  [[nodiscard]] std::vector<std::string> names() const {
    std::vector<std::string> out;
    out.reserve(m_tensors.size());
    for (const auto& [name, t] : m_tensors) out.push_back(name);
    return out;
  }

  [[nodiscard]] std::size_t size() const noexcept { return m_tensors.size(); }
  /// The path or source name given to read or parse.
  [[nodiscard]] const std::string& source() const noexcept { return m_source; }

private:
  static tensor make_tensor(detail::safetensors_entry& e) {
    tensor t;
    t.name = std::move(e.name);
    t.shape = std::move(e.shape);
    t.data.resize(e.elements); // bounded: elements x dtype size bytes were checked to lie inside the input
    t.source_dtype = std::string(dtype_name(e.type));
    return t;
  }

  static void read_exact(std::ifstream& in, void* dst, std::size_t bytes, const std::string& path) {
    if (bytes == 0) return;
    in.read(static_cast<char*>(dst), static_cast<std::streamsize>(bytes));
    if (!in || static_cast<std::size_t>(in.gcount()) != bytes)
      apgen::detail::fail<parse_error>(path, ": read failed (file shorter than it was a moment ago?)");
  }

  [[noreturn]] void missing(std::string_view name) const {
    std::string present;
    std::size_t listed = 0;
    for (const auto& [n, t] : m_tensors) {
      if (listed == 8) {
        present += ", ...";
        break;
      }
      present += (listed++ ? ", " : "") + detail::json_quote_for_message(n);
    }
    apgen::detail::fail<invalid_argument>(m_source, ": no tensor named ", detail::json_quote_for_message(name),
                                          " (the file has ", m_tensors.size(), ": ", present, ")");
  }

  std::string m_source;
  std::map<std::string, tensor, std::less<>> m_tensors;
  std::map<std::string, std::string> m_metadata;
};

// ---------------------------------------------------------------------------------------------------------------
// Writing.

namespace detail {

/// Validates the tensors and builds the padded header; `sink(const std::byte*, std::size_t)` then receives the
/// whole file in order (size field, header, data), so a file is written without holding it all in memory.
template <class Sink>
void emit_safetensors(std::span<const tensor_view> tensors, const std::map<std::string, std::string>& metadata,
                      dtype storage, Sink&& sink) {
  using apgen::detail::fail;
  std::set<std::string_view> seen;
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      if (!first) header += ',';
      first = false;
      append_json_string(header, k);
      header += ':';
      append_json_string(header, v);
    }
    header += '}';
  }
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    const std::string who = "write_safetensors: tensor " + json_quote_for_message(t.name);
    if (t.name == "__metadata__") fail<invalid_argument>(who, ": the name is reserved for the metadata");
    if (!seen.insert(t.name).second) fail<invalid_argument>(who, ": name given twice");
    const auto elements = shape_elements(t.shape);
    if (!elements || *elements != t.data.size())
      fail<shape_mismatch>(who, ": shape ", shape_string(t.shape), " does not match its ", t.data.size(), " values");
    const std::uint64_t bytes = static_cast<std::uint64_t>(*elements) * dtype_size(storage);
    if (header.size() > 1) header += ',';
    append_json_string(header, t.name);
    header += ":{\"dtype\":\"";
    header += dtype_name(storage);
    header += "\",\"shape\":[";
    for (std::size_t i = 0; i < t.shape.size(); ++i) {
      if (i) header += ',';
      header += std::to_string(t.shape[i]);
    }
    header += "],\"data_offsets\":[" + std::to_string(offset) + ',' + std::to_string(offset + bytes) + "]}";
    offset += bytes;
  }
  header += '}';
  // As the reference writer does: spaces up to a multiple of 8, so the data section starts 8-byte aligned.
  header.append((8 - header.size() % 8) % 8, ' ');

  std::array<std::byte, 8> size_field{};
  store_le(size_field.data(), header.size(), 8);
  sink(size_field.data(), size_field.size());
  sink(reinterpret_cast<const std::byte*>(header.data()), header.size());
  constexpr std::size_t chunk = 1 << 14;
  std::vector<std::byte> buffer(chunk * dtype_size(storage));
  for (const auto& t : tensors) {
    for (std::size_t i = 0; i < t.data.size(); i += chunk) {
      const std::size_t count = std::min(chunk, t.data.size() - i);
      encode_elements(storage, t.data.data() + i, count, buffer.data());
      sink(buffer.data(), count * dtype_size(storage));
    }
  }
}

} // namespace detail

/// The safetensors image of `tensors` (in the given order, contiguous, F32/F16/BF16 as `storage` says; F16 and
/// BF16 round to nearest even) and `metadata`. Throws apgen::shape_mismatch when a tensor's data does not match
/// its shape, apgen::invalid_argument for a repeated or reserved ("__metadata__") name or a string that is not
/// UTF-8.
[[nodiscard]] inline std::vector<std::byte>
serialize_safetensors(std::span<const tensor_view> tensors, const std::map<std::string, std::string>& metadata = {},
                      dtype storage = dtype::f32) {
  std::vector<std::byte> out;
  detail::emit_safetensors(tensors, metadata, storage,
                           [&](const std::byte* p, std::size_t n) { out.insert(out.end(), p, p + n); });
  return out;
}

/// serialize_safetensors for loaded tensors.
[[nodiscard]] inline std::vector<std::byte>
serialize_safetensors(std::span<const tensor> tensors, const std::map<std::string, std::string>& metadata = {},
                      dtype storage = dtype::f32) {
  const std::vector<tensor_view> views(tensors.begin(), tensors.end());
  return serialize_safetensors(std::span<const tensor_view>(views), metadata, storage);
}

/// serialize_safetensors for a braced list: `serialize_safetensors({{"w", {2}, values}})`.
[[nodiscard]] inline std::vector<std::byte>
serialize_safetensors(std::initializer_list<tensor_view> tensors,
                      const std::map<std::string, std::string>& metadata = {}, dtype storage = dtype::f32) {
  return serialize_safetensors(std::span<const tensor_view>(tensors.begin(), tensors.size()), metadata, storage);
}

/// Writes `tensors` and `metadata` to `path` as serialize_safetensors lays them out, streaming (the file is
/// never held in memory). Throws what serialize_safetensors throws (before creating the file),
/// apgen::invalid_argument when `path` cannot be opened for writing and apgen::error when a write fails.
inline void write_safetensors(const std::string& path, std::span<const tensor_view> tensors,
                              const std::map<std::string, std::string>& metadata = {}, dtype storage = dtype::f32) {
  // A dry run validates everything before the file is touched, so a bad call leaves no half-written file.
  detail::emit_safetensors(tensors, metadata, storage, [](const std::byte*, std::size_t) {});
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) apgen::detail::fail<invalid_argument>(path, ": cannot open for writing");
  detail::emit_safetensors(tensors, metadata, storage, [&](const std::byte* p, std::size_t n) {
    out.write(reinterpret_cast<const char*>(p), static_cast<std::streamsize>(n));
  });
  out.flush();
  if (!out) apgen::detail::fail<error>(path, ": write failed");
}

/// write_safetensors for loaded tensors.
inline void write_safetensors(const std::string& path, std::span<const tensor> tensors,
                              const std::map<std::string, std::string>& metadata = {}, dtype storage = dtype::f32) {
  const std::vector<tensor_view> views(tensors.begin(), tensors.end());
  write_safetensors(path, std::span<const tensor_view>(views), metadata, storage);
}

/// write_safetensors for a braced list: `write_safetensors("w.safetensors", {{"w", {2, 3}, values}})`.
inline void write_safetensors(const std::string& path, std::initializer_list<tensor_view> tensors,
                              const std::map<std::string, std::string>& metadata = {}, dtype storage = dtype::f32) {
  write_safetensors(path, std::span<const tensor_view>(tensors.begin(), tensors.size()), metadata, storage);
}

} // namespace apgen::io
