// Writes the seed corpus in fuzz/corpus: small valid files that reach every dtype, metadata, scalars, empty
// tensors, gaps, escaped names and offsets in any order. The committed seeds were made by this program:
//   cmake --build --preset fuzz --target fuzz_make_corpus && build/fuzz/fuzz/fuzz_make_corpus fuzz/corpus
#include <apgen/io/safetensors.hpp>
#include <apgen/nn/checkpoint.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

namespace io = apgen::io;

namespace {

void save(const std::string& path, const std::vector<std::byte>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

/// A file whose header is written by hand (anything serialize_safetensors would not produce itself).
std::vector<std::byte> by_hand(const std::string& header, std::size_t data_bytes) {
  std::vector<std::byte> out;
  for (int k = 0; k < 8; ++k) out.push_back(static_cast<std::byte>((header.size() >> (8 * k)) & 0xff));
  for (const char c : header) out.push_back(static_cast<std::byte>(c));
  for (std::size_t i = 0; i < data_bytes; ++i) out.push_back(static_cast<std::byte>(0x3c + i % 3));
  return out;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> m = {1.0f, -2.5f, 0.0f, 3.0e-5f, 65504.0f, -0.0f};
  const std::vector<float> special = {inf, -inf, std::nanf(""), 6.0e-8f, 1.0e-40f, 70000.0f};
  const std::vector<float> one = {42.0f};
  const std::vector<float> none;

  save(dir + "/f32_matrix.safetensors", io::serialize_safetensors({{"w", {2, 3}, m}}));
  save(dir + "/f16_metadata.safetensors",
       io::serialize_safetensors({{"special", {6}, special}}, {{"format", "pt"}, {"k\xc3\xa9y", "v\"\\\n"}},
                                 io::dtype::f16));
  save(dir + "/bf16_mixed.safetensors",
       io::serialize_safetensors({{"b.weight", {3, 2}, m}, {"scalar", {}, one}, {"empty", {0, 7}, none}}, {},
                                 io::dtype::bf16));
  save(dir + "/header_only.safetensors", io::serialize_safetensors(std::vector<io::tensor_view>{}));
  // Out-of-order offsets, a gap, trailing bytes, an escaped name, extra keys and whitespace.
  save(dir + "/by_hand.safetensors",
       by_hand(R"( {"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12],"x":[1.5e3,true,null]},)"
               R"( "\u00e9\ud83d\ude00":{"dtype":"F16","shape":[1,1],"data_offsets":[0,2]}} )",
               16));
  // A whole (tiny) transformer, so mutations reach the loader's metadata parsing and tensor checks.
  apgen::nn::transformer_config tiny{.vocab_size = 5, .d_model = 4, .n_layers = 1, .n_heads = 2, .d_ff = 6};
  tiny.feature_vocab_sizes = {3};
  auto w = apgen::nn::transformer_weights::random(tiny, 1);
  const auto views = apgen::nn::views_of(w);
  save(dir + "/tiny_transformer.safetensors",
       io::serialize_safetensors(std::span<const io::tensor_view>(views.views), tiny.to_metadata(), io::dtype::bf16));
  return 0;
}
