// safetensors (include/apgen/io/safetensors.hpp): exact F16/BF16 conversions against a brute-force reference,
// round trips through memory and files, a byte image laid out by hand from the format's spec, and one test case
// per malformed input the reader must refuse (each checks the exception type and the message).
#include <apgen/io/safetensors.hpp>

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace io = apgen::io;
using doctest::Contains;

// ---- byte images -------------------------------------------------------------------------------------------------

void put_le(std::vector<std::byte>& out, std::uint64_t v, int bytes) {
  for (int k = 0; k < bytes; ++k) out.push_back(static_cast<std::byte>((v >> (8 * k)) & 0xff));
}

/// [size field][header][data]; the size field is header.size() unless given.
std::vector<std::byte> image(std::string_view header, const std::vector<std::byte>& data = {},
                             std::uint64_t size_field = std::numeric_limits<std::uint64_t>::max()) {
  std::vector<std::byte> out;
  put_le(out, size_field == std::numeric_limits<std::uint64_t>::max() ? header.size() : size_field, 8);
  for (const char c : header) out.push_back(static_cast<std::byte>(c));
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

std::vector<std::byte> f32_bytes(std::initializer_list<float> values) {
  std::vector<std::byte> out;
  for (const float v : values) put_le(out, std::bit_cast<std::uint32_t>(v), 4);
  return out;
}

std::vector<std::byte> zeros(std::size_t n) {
  return std::vector<std::byte>(n, std::byte{0});
}

io::safetensors_file parse(const std::vector<std::byte>& bytes) {
  return io::safetensors_file::parse(bytes, "t.st");
}

/// A one-tensor header `{"<name>":{<entry>}}`.
std::string one(std::string_view entry, std::string_view name = "w") {
  return "{\"" + std::string(name) + "\":{" + std::string(entry) + "}}";
}

bool same_bits(float a, float b) {
  return std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b);
}

std::filesystem::path temp_path(std::string_view stem) {
  return std::filesystem::temp_directory_path() / ("apgen_test_" + std::string(stem) + ".safetensors");
}

// ---- brute-force conversion references ---------------------------------------------------------------------------

double half_value(std::uint32_t bits) { // positive patterns 0..0x7c00; 0x7c00 (infinity) counts as 2^16 for rounding
  const std::uint32_t e = bits >> 10, m = bits & 0x3ff;
  return e == 0 ? std::ldexp(static_cast<double>(m), -24) : std::ldexp(1024.0 + m, static_cast<int>(e) - 25);
}
double bf16_value(std::uint32_t bits) { // positive patterns 0..0x7f80; 0x7f80 (infinity) counts as 2^128
  return static_cast<double>(std::bit_cast<float>((bits == 0x7f80 ? 0x7f7fu : bits) << 16)) +
         (bits == 0x7f80 ? std::ldexp(1.0, 128 - 8) : 0.0);
}

/// Round |x| to the nearest pattern in [0, top] by exhaustive search over the monotone positive patterns; ties to
/// the even pattern. Obviously correct, slow.
template <class Value>
std::uint16_t nearest_pattern(float x, Value value, std::uint32_t top) {
  const double a = std::fabs(static_cast<double>(x));
  std::uint32_t lo = 0, hi = top; // largest pattern with value <= a
  while (lo < hi) {
    const std::uint32_t mid = (lo + hi + 1) / 2;
    if (value(mid) <= a)
      lo = mid;
    else
      hi = mid - 1;
  }
  std::uint32_t best = lo;
  if (lo < top) {
    const double below = a - value(lo), above = value(lo + 1) - a;
    if (above < below || (above == below && (lo & 1))) best = lo + 1;
  }
  const std::uint32_t sign = std::signbit(x) ? 0x8000u : 0u;
  return static_cast<std::uint16_t>(sign | best);
}

struct splitmix {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
};

/// Random finite floats: half with exponents around the F16 range (where rounding, subnormals and overflow
/// happen), half with any exponent.
float random_float(splitmix& rng) {
  const auto r = rng.next();
  std::uint32_t bits = static_cast<std::uint32_t>(r);
  if (r >> 63) bits = (bits & 0x807fffffu) | (static_cast<std::uint32_t>(95 + (r >> 40) % 50) << 23);
  if ((bits & 0x7f800000u) == 0x7f800000u) bits &= 0xbfffffffu; // no infinities or NaNs here
  return std::bit_cast<float>(bits);
}

} // namespace

TEST_SUITE("safetensors") {

  // ---- conversions
  // ---------------------------------------------------------------------------------------------------

  TEST_CASE("F16 decoding is exact for all 65536 patterns and encoding inverts it") {
    for (std::uint32_t h = 0; h < 0x10000; ++h) {
      CAPTURE(h);
      const float f = io::half_to_float(static_cast<std::uint16_t>(h));
      const std::uint32_t magnitude = h & 0x7fff;
      if (magnitude > 0x7c00) {
        REQUIRE(std::isnan(f));
        REQUIRE(std::isnan(io::half_to_float(io::float_to_half(f)))); // NaN stays NaN (quieted)
        REQUIRE((io::float_to_half(f) & 0x8000) == (h & 0x8000));
        continue;
      }
      const double expected = magnitude == 0x7c00 ? HUGE_VAL : half_value(magnitude);
      REQUIRE(static_cast<double>(std::fabs(f)) == expected);
      REQUIRE(std::signbit(f) == ((h & 0x8000) != 0));
      REQUIRE(io::float_to_half(f) == h);
    }
    CHECK(io::half_to_float(0x0001) == std::ldexp(1.0f, -24)); // smallest subnormal
    CHECK(io::half_to_float(0x7bff) == 65504.0f);              // largest finite
  }

  TEST_CASE("F32 to F16 rounds to nearest even (brute-force reference)") {
    splitmix rng{1};
    for (int i = 0; i < 200000; ++i) {
      const float f = random_float(rng);
      CAPTURE(f);
      REQUIRE(io::float_to_half(f) == nearest_pattern(f, half_value, 0x7c00));
#if defined(__FLT16_MANT_DIG__) && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
      REQUIRE(io::float_to_half(f) == std::bit_cast<std::uint16_t>(static_cast<_Float16>(f))); // the compiler agrees
#endif
    }
    // Edges: halfway cases tie to even, overflow at 65520, underflow at 2^-25.
    CHECK(io::float_to_half(65519.0f) == 0x7bff);
    CHECK(io::float_to_half(65520.0f) == 0x7c00);
    CHECK(io::float_to_half(-1e9f) == 0xfc00);
    CHECK(io::float_to_half(std::ldexp(1.0f, -25)) == 0x0000);                  // tie between 0 and 1 ulp: even
    CHECK(io::float_to_half(std::nextafter(std::ldexp(1.0f, -25), 1.0f)) == 1); // just above the tie
    CHECK(io::float_to_half(std::ldexp(3.0f, -25)) == 0x0002);                  // tie between 1 and 2: even
    CHECK(io::float_to_half(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);           // tie: down to even
    CHECK(io::float_to_half(1.0f + std::ldexp(3.0f, -11)) == 0x3c02);           // tie: up to even
    CHECK(io::float_to_half(std::ldexp(1023.5f, -24)) == 0x0400);               // rounds up into the normals
    CHECK(io::float_to_half(-0.0f) == 0x8000);
    CHECK(io::float_to_half(std::numeric_limits<float>::infinity()) == 0x7c00);
    CHECK(std::isnan(io::half_to_float(io::float_to_half(std::nanf("")))));
  }

  TEST_CASE("BF16 decoding is exact for all patterns and F32 to BF16 rounds to nearest even") {
    for (std::uint32_t b = 0; b < 0x10000; ++b) {
      const float f = io::bfloat16_to_float(static_cast<std::uint16_t>(b));
      CAPTURE(b);
      REQUIRE(std::bit_cast<std::uint32_t>(f) == b << 16);
      if (!std::isnan(f))
        REQUIRE(io::float_to_bfloat16(f) == b);
      else
        REQUIRE(std::isnan(io::bfloat16_to_float(io::float_to_bfloat16(f))));
    }
    splitmix rng{2};
    for (int i = 0; i < 200000; ++i) {
      const float f = random_float(rng);
      CAPTURE(f);
      REQUIRE(io::float_to_bfloat16(f) == nearest_pattern(f, bf16_value, 0x7f80));
    }
    CHECK(io::float_to_bfloat16(std::bit_cast<float>(0x3f808000u)) == 0x3f80); // tie: down to even
    CHECK(io::float_to_bfloat16(std::bit_cast<float>(0x3f818000u)) == 0x3f82); // tie: up to even
    CHECK(io::float_to_bfloat16(std::numeric_limits<float>::max()) == 0x7f80); // rounds to infinity
    CHECK(io::float_to_bfloat16(std::bit_cast<float>(0x7f800001u)) == 0x7fc0); // signalling NaN: stays NaN
    CHECK(io::float_to_bfloat16(std::bit_cast<float>(0xffc00000u)) == 0xffc0);
  }

  // ---- round trips
  // ---------------------------------------------------------------------------------------------------

  TEST_CASE("round trip: F32 through memory, shapes, scalars, empty tensors and metadata") {
    const std::vector<float> w = {1.0f, -2.5f, 3.25f, 0.0f, -0.0f, std::numeric_limits<float>::denorm_min()};
    const std::vector<float> scalar = {42.0f};
    const std::vector<float> none;
    const std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "caf\xc3\xa9 \"quoted\"\n"}};
    const auto bytes = io::serialize_safetensors({{"w", {2, 3}, w}, {"s", {}, scalar}, {"e", {0, 4}, none}}, meta);
    const auto file = parse(bytes);
    CHECK(file.size() == 3);
    CHECK(file.names() == std::vector<std::string>{"e", "s", "w"});
    CHECK(file.metadata() == meta);
    const auto& t = file.get("w", {2, 3});
    CHECK(t.name == "w");
    CHECK(t.source_dtype == "F32");
    REQUIRE(t.data.size() == w.size());
    for (std::size_t i = 0; i < w.size(); ++i) CHECK(same_bits(t.data[i], w[i]));
    CHECK(file.get("s", {}).data == scalar);
    CHECK(file.get("e", {0, 4}).data.empty());
    CHECK(file.contains("w"));
    CHECK_FALSE(file.contains("x"));
    CHECK(file.source() == "t.st");
    // The data section starts 8-byte aligned, and holds the tensors back to back in the given order.
    const std::uint64_t n = io::detail::load_le64(bytes.data());
    CHECK(n % 8 == 0);
    CHECK(bytes.size() == 8 + n + 4 * (6 + 1));
  }

  TEST_CASE("round trip: every F16 value and the special values through F16 storage") {
    std::vector<float> all;
    for (std::uint32_t h = 0; h < 0x10000; ++h) all.push_back(io::half_to_float(static_cast<std::uint16_t>(h)));
    const auto file = parse(io::serialize_safetensors({{"all", {256, 256}, all}}, {}, io::dtype::f16));
    const auto& t = file.get("all", {256, 256});
    CHECK(t.source_dtype == "F16");
    for (std::size_t i = 0; i < all.size(); ++i) {
      CAPTURE(i);
      if (std::isnan(all[i]))
        REQUIRE(std::isnan(t.data[i]));
      else
        REQUIRE(same_bits(t.data[i], all[i]));
    }
    // Values that are not halves round to nearest even on the way in.
    const std::vector<float> special = {1e6f,
                                        -1e6f,
                                        65519.0f,
                                        1e-9f,
                                        1.0f + std::ldexp(1.0f, -11),
                                        0.1f,
                                        std::numeric_limits<float>::infinity(),
                                        std::nanf("")};
    const auto s =
        parse(io::serialize_safetensors({{"s", {special.size()}, special}}, {}, io::dtype::f16)).get("s").data;
    CHECK(s[0] == std::numeric_limits<float>::infinity());
    CHECK(s[1] == -std::numeric_limits<float>::infinity());
    CHECK(s[2] == 65504.0f);
    CHECK(s[3] == 0.0f);
    CHECK(s[4] == 1.0f);
    CHECK(s[5] == io::half_to_float(0x2e66)); // 0.0999755859375
    CHECK(s[6] == std::numeric_limits<float>::infinity());
    CHECK(std::isnan(s[7]));
  }

  TEST_CASE("round trip: BF16 storage keeps bfloat16 values exactly and rounds the rest") {
    std::vector<float> values;
    for (std::uint32_t b = 0; b < 0x10000; b += 7)
      values.push_back(io::bfloat16_to_float(static_cast<std::uint16_t>(b)));
    values.push_back(1.00390625f); // 1 + 2^-8: a tie, rounds to 1
    values.push_back(std::numeric_limits<float>::max());
    const auto t = parse(io::serialize_safetensors({{"b", {values.size()}, values}}, {}, io::dtype::bf16)).get("b");
    CHECK(t.source_dtype == "BF16");
    for (std::size_t i = 0; i + 2 < values.size(); ++i) {
      CAPTURE(i);
      if (std::isnan(values[i]))
        REQUIRE(std::isnan(t.data[i]));
      else
        REQUIRE(same_bits(t.data[i], values[i]));
    }
    CHECK(t.data[t.data.size() - 2] == 1.0f);
    CHECK(t.data.back() == std::numeric_limits<float>::infinity());
  }

  TEST_CASE("round trip through a file with write_safetensors and read") {
    const auto path = temp_path("roundtrip");
    const std::vector<float> a = {0.5f, 1.5f, -7.0f, 1e-3f};
    const std::vector<float> b = {3.0f, 4.0f};
    std::vector<io::tensor> tensors = {{"layer.0.weight", {2, 2}, a, "F32"}, {"layer.0.bias", {2}, b, "F32"}};
    for (const auto type : {io::dtype::f32, io::dtype::f16, io::dtype::bf16}) {
      CAPTURE(io::dtype_name(type));
      io::write_safetensors(path.string(), tensors, {{"step", "100"}}, type);
      const auto file = io::safetensors_file::read(path.string());
      CHECK(file.metadata().at("step") == "100");
      CHECK(file.get("layer.0.bias", {2}).data == b);
      const auto& w = file.get("layer.0.weight", {2, 2});
      CHECK(w.source_dtype == io::dtype_name(type));
      if (type == io::dtype::f32)
        CHECK(w.data == a);
      else
        CHECK(w.data[3] == doctest::Approx(1e-3f).epsilon(1e-2));
      // The file and the in-memory image agree byte for byte.
      std::ifstream in(path, std::ios::binary);
      const std::string on_disk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      const auto expected = io::serialize_safetensors(tensors, {{"step", "100"}}, type);
      CHECK(on_disk == std::string(reinterpret_cast<const char*>(expected.data()), expected.size()));
    }
    std::filesystem::remove(path);
  }

  TEST_CASE("a byte image laid out by hand as the reference writer (PyTorch's safetensors) lays it out") {
    // 8-byte little-endian header size, compact JSON with dtype/shape/data_offsets in that order, spaces up to a
    // multiple of 8, then the little-endian data: 1.0f = 00 00 80 3f, -2.5f = 00 00 20 c0.
    const std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})"; // 54 bytes
    REQUIRE(header.size() == 54);
    const std::vector<unsigned char> raw = {
        56, 0, 0, 0, 0, 0, 0, 0, // N = 56 = 54 + two spaces of padding
    };
    std::vector<std::byte> bytes;
    for (auto c : raw) bytes.push_back(std::byte{c});
    for (char c : header + "  ") bytes.push_back(static_cast<std::byte>(c));
    for (unsigned char c : {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0}) bytes.push_back(std::byte{c});
    const auto file = parse(bytes);
    CHECK(file.get("a", {2}).data == std::vector<float>{1.0f, -2.5f});
    CHECK(file.metadata().empty());
    // Our writer produces exactly these bytes.
    const std::vector<float> a = {1.0f, -2.5f};
    CHECK(io::serialize_safetensors({{"a", {2}, a}}) == bytes);

    // With metadata, as safetensors.torch.save_file(..., metadata={"format": "pt"}) writes it: "__metadata__" first.
    const std::string with_meta =
        R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
    const auto expected = image(with_meta + std::string((8 - with_meta.size() % 8) % 8, ' '), f32_bytes({1.0f, -2.5f}));
    CHECK(io::serialize_safetensors({{"a", {2}, a}}, {{"format", "pt"}}) == expected);
    CHECK(parse(expected).metadata().at("format") == "pt");
  }

  TEST_CASE("reads the PyTorch-written fixtures in tests/data, whose BF16 weights are the F32 ones rounded to even") {
    // tools/reference_transformer.py writes these with torch; `w.to(torch.bfloat16)` rounds to nearest even, so
    // every X.bf16.safetensors tensor stored as BF16 must equal float_to_bfloat16 of the F32 tensor in X.safetensors.
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::recursive_directory_iterator(APGEN_TEST_DATA_DIR))
      if (e.path().extension() == ".safetensors") files.push_back(e.path());
    REQUIRE_MESSAGE(!files.empty(), "no .safetensors fixtures under " APGEN_TEST_DATA_DIR);
    std::size_t compared = 0;
    for (const auto& path : files) {
      CAPTURE(path.string());
      const auto file = io::safetensors_file::read(path.string());
      CHECK(file.size() > 0);
      const std::string name = path.filename().string();
      const auto pos = name.find(".bf16.safetensors");
      if (pos == std::string::npos) continue;
      const auto f32_path = path.parent_path() / (name.substr(0, pos) + ".safetensors");
      if (!std::filesystem::exists(f32_path)) continue;
      const auto f32 = io::safetensors_file::read(f32_path.string());
      for (const auto& tensor_name : file.names()) {
        const auto& b = file.get(tensor_name);
        if (b.source_dtype != "BF16" || !f32.contains(tensor_name)) continue;
        const auto& f = f32.get(tensor_name, b.shape);
        REQUIRE(f.source_dtype == "F32");
        for (std::size_t i = 0; i < f.data.size(); ++i)
          REQUIRE(same_bits(b.data[i], io::bfloat16_to_float(io::float_to_bfloat16(f.data[i]))));
        ++compared;
      }
    }
    MESSAGE(files.size(), " fixtures read, ", compared, " BF16 tensors checked against their F32 originals");
  }

  TEST_CASE("reader accepts what the format allows: any order, gaps, trailing bytes, extra keys, whitespace") {
    const std::string header = R"( { "b" : {"dtype":"F32","shape":[1],"data_offsets":[8,12],"extra":[1]},
                                   "a" : {"shape":[1],"data_offsets":[0,4],"dtype":"F32"} } )";
    // Bytes 4..8 and 12..16 belong to no tensor: allowed (the reference writer never leaves gaps; we do not require
    // it).
    const auto file = parse(image(header, f32_bytes({1.0f, 99.0f, 2.0f, 99.0f})));
    CHECK(file.get("a").data == std::vector<float>{1.0f});
    CHECK(file.get("b").data == std::vector<float>{2.0f});
    CHECK(parse(image("{}")).size() == 0);
    CHECK(parse(image(one(R"("dtype":"F32","shape":[0],"data_offsets":[0,0])"))).get("w").data.empty());
    // Two empty tensors at the same offset share no byte.
    CHECK(parse(image(R"({"x":{"dtype":"F16","shape":[0],"data_offsets":[2,2]},)"
                      R"("y":{"dtype":"BF16","shape":[3,0],"data_offsets":[2,2]}})",
                      zeros(4)))
              .size() == 2);
  }

  // ---- lookups
  // -------------------------------------------------------------------------------------------------------

  TEST_CASE("get names a missing tensor and a wrong shape") {
    const std::vector<float> w(6, 1.0f);
    const auto file = parse(io::serialize_safetensors({{"w", {2, 3}, w}}));
    CHECK_THROWS_WITH_AS(static_cast<void>(file.get("v")),
                         Contains("t.st: no tensor named \"v\" (the file has 1: \"w\")"), apgen::invalid_argument);
    CHECK_THROWS_WITH_AS(static_cast<void>(file.get("w", {3, 2})),
                         Contains("t.st: tensor \"w\" has shape [2, 3], expected [3, 2]"), apgen::shape_mismatch);
    CHECK_THROWS_AS(static_cast<void>(file.get("w", {6})), apgen::shape_mismatch);
  }

  // ---- writer errors
  // -------------------------------------------------------------------------------------------------

  TEST_CASE("writer refuses data that does not match the shape, repeated or reserved names, non-UTF-8 names") {
    const std::vector<float> v(5, 0.0f);
    CHECK_THROWS_WITH_AS(static_cast<void>(io::serialize_safetensors({{"w", {2, 3}, v}})),
                         Contains("tensor \"w\": shape [2, 3] does not match its 5 values"), apgen::shape_mismatch);
    CHECK_THROWS_WITH_AS(static_cast<void>(io::serialize_safetensors({{"w", {5}, v}, {"w", {5}, v}})),
                         Contains("tensor \"w\": name given twice"), apgen::invalid_argument);
    CHECK_THROWS_WITH_AS(static_cast<void>(io::serialize_safetensors({{"__metadata__", {5}, v}})), Contains("reserved"),
                         apgen::invalid_argument);
    CHECK_THROWS_WITH_AS(static_cast<void>(io::serialize_safetensors({{"bad\xff", {5}, v}})), Contains("invalid UTF-8"),
                         apgen::invalid_argument);
    CHECK_THROWS_AS(static_cast<void>(io::serialize_safetensors({{"w", {5}, v}}, {{"k", "\xc0\x80"}})),
                    apgen::invalid_argument);
    const auto path = temp_path("refused");
    std::filesystem::remove(path);
    CHECK_THROWS_AS(io::write_safetensors(path.string(), {{"w", {2}, v}}), apgen::shape_mismatch);
    CHECK_FALSE(std::filesystem::exists(path)); // validated before the file is created
    CHECK_THROWS_WITH_AS(io::write_safetensors("/nonexistent-dir/x.safetensors", {{"w", {5}, v}}),
                         Contains("cannot open for writing"), apgen::invalid_argument);
  }

  // ---- malformed files: one case each
  // ---------------------------------------------------------------------------------

  TEST_CASE("malformed: file shorter than 8 bytes") {
    CHECK_THROWS_WITH_AS(parse(zeros(5)), Contains("t.st: file is 5 bytes, shorter than the 8-byte header size field"),
                         apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse({}), Contains("file is 0 bytes"), apgen::parse_error);
  }

  TEST_CASE("malformed: header size larger than the rest of the file") {
    CHECK_THROWS_WITH_AS(parse(image("{}  ", {}, 100)),
                         Contains("t.st: header size 100 is larger than the 4 bytes that follow the 8-byte size field"),
                         apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse(image("", {}, 1)), Contains("header size 1 is larger than the 0 bytes"),
                         apgen::parse_error);
  }

  TEST_CASE("malformed: header size absurdly large (over 100 MB)") {
    CHECK_THROWS_WITH_AS(parse(image("{}", {}, 100'000'001)),
                         Contains("header size 100000001 is larger than the 100000000-byte limit"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse(image("{}", {}, std::numeric_limits<std::uint64_t>::max() - 1)), Contains("-byte limit"),
                         apgen::parse_error);
  }

  TEST_CASE("malformed: header not UTF-8") {
    CHECK_THROWS_WITH_AS(parse(image("{\"w\xe9\":1}")),
                         Contains("t.st: header: invalid UTF-8 (truncated sequence) in string at byte 11"),
                         apgen::parse_error);
  }

  TEST_CASE("malformed: header not JSON") {
    CHECK_THROWS_WITH_AS(parse(image("{\"w\":")), Contains("t.st: header: unexpected end of input"),
                         apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse(image("")), Contains("t.st: header: empty input"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse(image("{} x")), Contains("trailing characters after the JSON value at byte 11"),
                         apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse(image(std::string("{}\0\0\0\0\0\0", 8))), Contains("trailing characters"),
                         apgen::parse_error); // padding must be spaces
    CHECK_THROWS_WITH_AS(parse(image("{\"__metadata__\":" + std::string(70, '[') + std::string(70, ']') + "}")),
                         Contains("nesting deeper than 64"), apgen::parse_error);
  }

  TEST_CASE("malformed: header not an object") {
    CHECK_THROWS_WITH_AS(parse(image("[1, 2]  ")),
                         Contains("t.st: header is not a JSON object (found array at byte 8)"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse(image("  \"w\"")), Contains("found string at byte 10"), apgen::parse_error);
  }

  TEST_CASE("malformed: duplicate tensor name") {
    const std::string e = R"({"dtype":"F32","shape":[1],"data_offsets":[0,4]})";
    CHECK_THROWS_WITH_AS(parse(image("{\"w\":" + e + ",\"w\":" + e + "}", zeros(4))),
                         Contains("t.st: header: duplicate key \"w\" at byte 62"), apgen::parse_error);
  }

  TEST_CASE("malformed: entry missing dtype") {
    CHECK_THROWS_WITH_AS(parse(image(one(R"("shape":[1],"data_offsets":[0,4])"), zeros(4))),
                         Contains("t.st: tensor \"w\": missing \"dtype\" in entry at byte 13"), apgen::parse_error);
  }

  TEST_CASE("malformed: entry missing shape") {
    CHECK_THROWS_WITH_AS(parse(image(one(R"("dtype":"F32","data_offsets":[0,4])"), zeros(4))),
                         Contains("tensor \"w\": missing \"shape\""), apgen::parse_error);
  }

  TEST_CASE("malformed: entry missing data_offsets") {
    CHECK_THROWS_WITH_AS(parse(image(one(R"("dtype":"F32","shape":[1])"), zeros(4))),
                         Contains("tensor \"w\": missing \"data_offsets\""), apgen::parse_error);
  }

  TEST_CASE("malformed: entry or its fields of the wrong JSON type") {
    CHECK_THROWS_WITH_AS(parse(image(R"({"w":[1,2]})")),
                         Contains("tensor \"w\": entry must be an object, found array at byte 13"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse(image(one(R"("dtype":32,"shape":[1],"data_offsets":[0,4])"), zeros(4))),
                         Contains("tensor \"w\": \"dtype\" must be a string, found integer at byte 22"),
                         apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse(image(one(R"("dtype":"F32","shape":"1","data_offsets":[0,4])"), zeros(4))),
                         Contains("\"shape\" must be an array, found string"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse(image(one(R"("dtype":"F32","shape":[1],"data_offsets":{"b":0})"), zeros(4))),
                         Contains("\"data_offsets\" must be an array, found object"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse(image(one(R"("dtype":"F32","shape":[1],"data_offsets":[0,"4"])"), zeros(4))),
                         Contains("\"data_offsets\" element 1 must be a non-negative integer, found string"),
                         apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse(image(one(R"("dtype":"F32","shape":[1],"data_offsets":[0.0,4])"), zeros(4))),
                         Contains("\"data_offsets\" element 0 must be a non-negative integer, found number"),
                         apgen::parse_error);
  }

  TEST_CASE("malformed: unknown dtype") {
    CHECK_THROWS_WITH_AS(parse(image(one(R"("dtype":"F33","shape":[1],"data_offsets":[0,4])"), zeros(4))),
                         Contains("t.st: tensor \"w\": unknown dtype \"F33\" at byte 22"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse(image(one(R"("dtype":"f32","shape":[1],"data_offsets":[0,4])"), zeros(4))),
                         Contains("unknown dtype \"f32\""), apgen::parse_error); // names are case-sensitive
  }

  TEST_CASE("unsupported dtypes are refused naming the tensor and the dtype") {
    for (const std::string dt : {"I64", "F64", "I32", "U8", "BOOL", "F8_E4M3"}) {
      CAPTURE(dt);
      CHECK_THROWS_WITH_AS(
          parse(image(one("\"dtype\":\"" + dt + R"(","shape":[1],"data_offsets":[0,8])", "ids"), zeros(8))),
          Contains(("tensor \"ids\": dtype " + dt + " is not supported (apgen reads F32, F16 and BF16)").c_str()),
          apgen::parse_error);
    }
  }

  TEST_CASE("malformed: negative shape dimension") {
    CHECK_THROWS_WITH_AS(parse(image(one(R"("dtype":"F32","shape":[2,-1],"data_offsets":[0,4])"), zeros(4))),
                         Contains("tensor \"w\": \"shape\" element 1 is negative (-1) at byte 39"), apgen::parse_error);
  }

  TEST_CASE("malformed: non-integer shape dimension") {
    for (const std::string dim : {"2.5", "2.0", "2e0", "\"2\"", "null", "[2]"}) {
      CAPTURE(dim);
      CHECK_THROWS_WITH_AS(
          parse(image(one(R"("dtype":"F32","shape":[)" + dim + R"(],"data_offsets":[0,8])"), zeros(8))),
          Contains("tensor \"w\": \"shape\" element 0 must be a non-negative integer"), apgen::parse_error);
    }
  }

  TEST_CASE("malformed: shape whose element count overflows") {
    CHECK_THROWS_WITH_AS(
        parse(image(one(R"("dtype":"F32","shape":[4294967296,4294967296,2],"data_offsets":[0,4])"), zeros(4))),
        Contains("tensor \"w\": shape [4294967296, 4294967296, 2] has too many elements"), apgen::parse_error);
    // The element count fits but the byte count does not.
    CHECK_THROWS_WITH_AS(
        parse(image(one(R"("dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,4])"), zeros(4))),
        Contains("has too many elements"), apgen::parse_error);
    // An integer beyond int64 is already refused by the JSON reader.
    CHECK_THROWS_WITH_AS(
        parse(image(one(R"("dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,4])"), zeros(4))),
        Contains("integer out of range"), apgen::parse_error);
  }

  TEST_CASE("malformed: data_offsets not [begin, end]") {
    CHECK_THROWS_WITH_AS(parse(image(one(R"("dtype":"F32","shape":[1],"data_offsets":[4])"), zeros(4))),
                         Contains("tensor \"w\": \"data_offsets\" must be [begin, end], found 1 elements at byte 55"),
                         apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse(image(one(R"("dtype":"F32","shape":[1],"data_offsets":[0,4,8])"), zeros(8))),
                         Contains("must be [begin, end], found 3 elements"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse(image(one(R"("dtype":"F32","shape":[1],"data_offsets":[-4,0])"), zeros(4))),
                         Contains("\"data_offsets\" element 0 is negative (-4)"), apgen::parse_error);
  }

  TEST_CASE("malformed: data_offsets with begin after end") {
    CHECK_THROWS_WITH_AS(parse(image(one(R"("dtype":"F32","shape":[1],"data_offsets":[8,4])"), zeros(8))),
                         Contains("tensor \"w\": data_offsets [8, 4] has begin > end"), apgen::parse_error);
  }

  TEST_CASE("malformed: data_offsets end past the data section") {
    CHECK_THROWS_WITH_AS(parse(image(one(R"("dtype":"F32","shape":[2],"data_offsets":[0,8])"), zeros(7))),
                         Contains("tensor \"w\": data_offsets end 8 is past the end of the data section (7 bytes)"),
                         apgen::parse_error);
    CHECK_THROWS_WITH_AS(
        parse(image(one(R"("dtype":"F32","shape":[1],"data_offsets":[9223372036854775803,9223372036854775807])"))),
        Contains("past the end of the data section (0 bytes)"), apgen::parse_error);
  }

  TEST_CASE("malformed: byte length does not match shape and dtype") {
    CHECK_THROWS_WITH_AS(parse(image(one(R"("dtype":"F32","shape":[2,2],"data_offsets":[0,12])"), zeros(16))),
                         Contains("tensor \"w\": data_offsets [0, 12] hold 12 bytes but shape [2, 2] of F32 needs 16"),
                         apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse(image(one(R"("dtype":"BF16","shape":[3],"data_offsets":[0,12])"), zeros(12))),
                         Contains("shape [3] of BF16 needs 6"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse(image(one(R"("dtype":"F16","shape":[],"data_offsets":[0,4])"), zeros(4))),
                         Contains("shape [] of F16 needs 2"), apgen::parse_error);
  }

  TEST_CASE("malformed: overlapping tensor byte ranges") {
    const std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                               R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
    CHECK_THROWS_WITH_AS(parse(image(header, zeros(12))),
                         Contains("t.st: tensors \"a\" [0, 8) and \"b\" [4, 12) overlap"), apgen::parse_error);
    const std::string same = R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},)"
                             R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}})";
    CHECK_THROWS_WITH_AS(parse(image(same, zeros(4))), Contains("overlap"), apgen::parse_error);
    const std::string inside = R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                               R"("b":{"dtype":"F16","shape":[1],"data_offsets":[6,8]}})";
    CHECK_THROWS_WITH_AS(parse(image(inside, zeros(16))), Contains("\"a\" [0, 16) and \"b\" [6, 8) overlap"),
                         apgen::parse_error);
  }

  TEST_CASE("malformed: __metadata__ values not strings") {
    CHECK_THROWS_WITH_AS(parse(image(R"({"__metadata__":{"ok":"1","epoch":3}})")),
                         Contains("t.st: \"__metadata__\" value for key \"epoch\" must be a string, found integer "
                                  "at byte 42"),
                         apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse(image(R"({"__metadata__":["a"]})")),
                         Contains("\"__metadata__\" must be an object of strings, found array"), apgen::parse_error);
    CHECK_THROWS_WITH_AS(parse(image(R"({"__metadata__":null})")), Contains("found null"), apgen::parse_error);
  }

  TEST_CASE("read: missing and truncated files") {
    CHECK_THROWS_WITH_AS(static_cast<void>(io::safetensors_file::read("/nonexistent/none.safetensors")),
                         Contains("/nonexistent/none.safetensors: cannot open file"), apgen::parse_error);
    const auto path = temp_path("truncated");
    const std::vector<float> v(16, 1.0f);
    const auto bytes = io::serialize_safetensors({{"w", {16}, v}});
    for (const std::size_t keep : {std::size_t{3}, std::size_t{20}, bytes.size() - 1}) {
      CAPTURE(keep);
      std::ofstream(path, std::ios::binary)
          .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(keep));
      CHECK_THROWS_AS(static_cast<void>(io::safetensors_file::read(path.string())), apgen::parse_error);
    }
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), 5);
    CHECK_THROWS_WITH_AS(static_cast<void>(io::safetensors_file::read(path.string())),
                         Contains("file is 5 bytes, shorter than the 8-byte header size field"), apgen::parse_error);
    std::filesystem::remove(path);
  }

} // TEST_SUITE("safetensors")
