// libFuzzer target for the safetensors reader (and, through the header, the JSON reader), and for the transformer
// loader on whatever the reader accepts (its metadata parsing and its checks of the tensor table).
//
// The contract under test: safetensors_file::parse, and nn::load_transformer on a parsed file, either return or
// throw something derived from apgen::error, for any bytes; the loader never allocates more than the file holds
// (a file whose metadata declares a huge model must fail before allocating it). A crash, a sanitizer report, a leak, a
// timeout, an allocation over -rss_limit_mb, or any other exception is a finding. Two round-trip properties make a
// wrong answer a finding too:
//   - a file that parses, written back as F32 with write_safetensors' layout, parses to the same tensors and
//     metadata (bit for bit, NaNs compared as NaNs);
//   - the bytes after the size field, when they are a JSON document on their own, survive to_json -> parse_json.
//
// Build and run: cmake --workflow --preset fuzz (see fuzz/CMakeLists.txt), or by hand
//   build/fuzz/fuzz/fuzz_safetensors -dict=fuzz/safetensors.dict -max_total_time=60 <a copy of fuzz/corpus>
#include <apgen/io/json.hpp>
#include <apgen/io/safetensors.hpp>
#include <apgen/nn/checkpoint.hpp>

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace {

[[noreturn]] void finding(const char* what) {
  std::fprintf(stderr, "fuzz_safetensors: property violated: %s\n", what);
  std::abort();
}

bool same_float(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) || std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b);
}

void check_safetensors_round_trip(const apgen::io::safetensors_file& file) {
  std::vector<apgen::io::tensor> tensors;
  for (const auto& name : file.names()) {
    const auto& t = file.get(name);
    const auto elements = apgen::io::detail::shape_elements(t.shape);
    if (!elements || *elements != t.data.size()) finding("data size differs from the shape's element count");
    tensors.push_back(t);
  }
  // Outside any try: the writer must accept whatever the reader returned.
  const auto bytes = apgen::io::serialize_safetensors(tensors, file.metadata(), apgen::io::dtype::f32);
  const auto again = apgen::io::safetensors_file::parse(bytes, "round trip");
  if (again.metadata() != file.metadata()) finding("metadata changed in a round trip");
  if (again.names() != file.names()) finding("tensor names changed in a round trip");
  for (const auto& t : tensors) {
    const auto& u = again.get(t.name);
    if (u.shape != t.shape || u.data.size() != t.data.size()) finding("a shape changed in a round trip");
    for (std::size_t i = 0; i < t.data.size(); ++i)
      if (!same_float(u.data[i], t.data[i])) finding("a value changed in a round trip");
  }
}

void check_json_round_trip(std::string_view text) {
  apgen::io::json_value doc;
  try {
    doc = apgen::io::parse_json(text);
  } catch (const apgen::error&) {
    return;
  }
  const std::string written = apgen::io::to_json(doc);
  if (!(apgen::io::parse_json(written) == doc)) finding("JSON changed in a write/parse round trip");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  if (size > 8) check_json_round_trip(std::string_view(reinterpret_cast<const char*>(data) + 8, size - 8));
  std::optional<apgen::io::safetensors_file> file;
  try {
    file.emplace(apgen::io::safetensors_file::parse(bytes, "fuzz input"));
  } catch (const apgen::error&) {
    return 0; // refusing malformed input is the expected outcome
  }
  check_safetensors_round_trip(*file);
  try {
    const auto w = apgen::nn::load_transformer(*file, "fuzz input");
    if (apgen::nn::transformer_weights::tensor_count(w.config) != file->size())
      finding("a model loaded from a file with other tensors");
  } catch (const apgen::error&) {
  }
  return 0;
}
