// A transformer denoiser (random weights) decoded three ways: ARM with a causal model and its KV cache (the row
// grows by appending), MDM with a bidirectional model (top-margin order, 4 tokens a step), and AP-MDM with the same
// bidirectional model's control heads. The bidirectional model goes through a safetensors file on the way, as a
// trained one would.
#include <apgen/apgen.hpp>
#include <apgen/nn/checkpoint.hpp>
#include <apgen/nn/transformer.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>

namespace {
apgen::nn::transformer_config config(std::size_t vocab, bool causal) {
  return {.vocab_size = vocab,
          .d_model = 64,
          .n_layers = 2,
          .n_heads = 4,
          .d_ff = 128,
          .causal = causal,
          .control_heads = !causal};
}

template <class Generator>
void decode(const char* name, Generator& gen, apgen::canvas& c, const apgen::vocabulary& v) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto res = gen.generate(c);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::cout << name << ": " << res.steps << " steps, " << ms << " ms\n";
  for (std::size_t r = 0; r < c.rows(); ++r)
    std::cout << "  " << v.to_text(c.row(r)) << "  (" << apgen::to_string(res.rows[r].reason) << ")\n";
}
} // namespace

int main() {
  apgen::vocabulary v({"a", "b", "c", "d", "e", "f", "g", "h"}, {"[MASK]", "", "", "[EOS]"});

  // ARM: causal model, rows start as [prompt, MASK] and grow one token a step until EOS or capacity.
  apgen::canvas arm(v, 2, 24);
  arm.assign(0, {2, 3, 0}, 2);
  arm.assign(1, {4, 0}, 1);
  auto arm_gen = apgen::make_generator<apgen::edits::arm_append>(
      apgen::nn::transformer(apgen::nn::transformer_weights::random(config(v.size(), true), 1, 0.3f)),
      apgen::schedules::autoregressive<apgen::sampling::top_k>(apgen::sampling::top_k(3)), {.seed = 5});
  decode("ARM (causal, KV cache, appending)", arm_gen, arm, v);

  // A bidirectional model with control heads, saved and loaded back as bf16.
  auto weights = apgen::nn::transformer_weights::random(config(v.size(), false), 2, 0.3f);
  const char* path = "04_transformer_decoding.safetensors";
  apgen::nn::save_transformer(path, weights, apgen::io::dtype::bf16);
  const auto loaded = apgen::nn::load_transformer(path);
  std::remove(path);
  apgen::nn::transformer model(loaded);

  apgen::canvas mdm(v, 2, 24);
  mdm.assign_prompt_and_masks(0, std::vector<int>{2, 3}, 12);
  mdm.assign_prompt_and_masks(1, std::vector<int>{4}, 16);
  auto mdm_gen = apgen::make_generator(model, apgen::schedules::top_margin(apgen::schedules::unmask_count::fixed_k(4)));
  decode("MDM (top margin, 4 a step)", mdm_gen, mdm, v);

  apgen::canvas ap(v, 2, 64);
  ap.assign_prompt_and_masks(0, std::vector<int>{2, 3}, 12);
  ap.assign_prompt_and_masks(1, std::vector<int>{4}, 16);
  auto ap_gen = apgen::make_generator(model, apgen::schedules::any_process<>(),
                                      {.overflow = apgen::overflow_policy::stop_row, .max_steps = 32});
  decode("AP-MDM (control heads)", ap_gen, ap, v);
}
