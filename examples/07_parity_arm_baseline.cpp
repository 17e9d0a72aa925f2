// The ARM baseline of the parity experiment: a causal transformer (unlimited rotary attention) trained by
// next-token prediction to read [BOS] b1 .. bn = and write the parity bit, on strings of 2..100 bits (a curriculum
// from short to long, far more data than the process model's). Accuracy by length bucket shows where it holds and
// where it stops (the process model of examples 05 and 06 is right at every length).
//
// usage: 07_parity_arm_baseline [strings per stage = 8000] [steps = 6600] [strings per bucket = 200]
#include <apgen/apgen.hpp>
#include <apgen/tasks/parity/learned.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

int main(int argc, char** argv) {
  namespace parity = apgen::tasks::parity;
  auto arg = [&](int i, std::size_t d) { return argc > i ? std::strtoul(argv[i], nullptr, 10) : d; };
  parity::arm_training setup;
  setup.examples = arg(1, setup.examples);
  setup.steps = arg(2, setup.steps);
  const std::size_t per_bucket = arg(3, 200);
  const auto v = parity::make_arm_vocabulary();

  const auto t0 = std::chrono::steady_clock::now();
  double tail = 0;
  const std::uint64_t total = std::max<std::uint64_t>(1, setup.steps / parity::arm_curriculum(setup).size()) *
                              parity::arm_curriculum(setup).size();
  auto w = parity::train_arm_model(v, setup, [&](const apgen::train::step_stats& s) {
    if (s.step + 100 > total) tail += s.loss.total / 100;
  });
  const auto caps = parity::arm_curriculum(setup);
  std::printf("ARM: %zu parameters, a curriculum of %zu stages (longest string %zu, %zu, ..., %zu bits) of %zu strings "
              "each, %llu steps of %zu in %.1f s (loss over the last 100 steps %.3f; ln 2 = 0.693 is a coin)\n",
              w.parameter_count(), caps.size(), caps.front(), caps[std::min<std::size_t>(1, caps.size() - 1)],
              caps.back(), setup.examples, static_cast<unsigned long long>(setup.steps), setup.batch_size,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), tail);

  auto gen = apgen::make_generator(apgen::nn::transformer(w), apgen::schedules::autoregressive<>());
  std::mt19937_64 rng(99);
  const std::size_t buckets[][2] = {{2, 5},    {6, 10},    {11, 20},   {21, 50},
                                    {51, 100}, {101, 200}, {201, 500}, {501, 1000}};
  std::printf("  %-12s %s\n", "bits", "correct");
  for (const auto& [lo, hi] : buckets) {
    std::vector<std::vector<int>> inputs(per_bucket);
    std::vector<std::size_t> caps;
    for (auto& b : inputs) {
      b.resize(lo + rng() % (hi - lo + 1));
      for (auto& x : b) x = static_cast<int>(rng() & 1u);
      caps.push_back(b.size() + 3);
    }
    apgen::canvas c(v, caps);
    for (std::size_t r = 0; r < inputs.size(); ++r) {
      auto row = parity::arm_prompt(v, inputs[r]);
      const std::size_t prompt = row.size();
      row.push_back(v.mask());
      c.assign(r, row, prompt);
    }
    gen.generate(c);
    std::size_t ok = 0;
    for (std::size_t r = 0; r < inputs.size(); ++r) ok += c.row(r).back() == parity::arm_answer(v, inputs[r]) ? 1 : 0;
    std::printf("  %4zu..%-6zu %6.1f%%%s\n", lo, hi, 100.0 * static_cast<double>(ok) / static_cast<double>(per_bucket),
                hi <= setup.max_length ? "   (trained lengths)" : "");
  }
}
