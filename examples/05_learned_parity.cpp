// A learned AP-MDM process: a 2.4k-parameter transformer with local attention (window 2) is trained in C++ on the
// parity oracle's transitions of every input of up to 5 bits, then solves a 1,000-bit string by remasking and deleting,
// one re-encode of the whole row per step. For contrast, the same model trained only on 2-bit inputs (the paper's
// seven transitions) is run on longer strings: it has never seen a position beyond the leading pair and guesses.
//
// usage: 05_learned_parity [n = 1000]
#include <apgen/apgen.hpp>
#include <apgen/tasks/parity/learned.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <random>
#include <set>

namespace {
using clock_type = std::chrono::steady_clock;
double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Share of `count` random strings of lengths [lo, hi] the generator gets right.
template <class Generator>
double accuracy(Generator& gen, const apgen::vocabulary& v, std::size_t count, std::size_t lo, std::size_t hi,
                unsigned seed) {
  std::mt19937 rng(seed);
  std::size_t ok = 0;
  for (std::size_t k = 0; k < count; ++k) {
    std::vector<int> bits(lo + rng() % (hi - lo + 1));
    for (auto& b : bits) b = static_cast<int>(rng() & 1u);
    apgen::canvas c(v, 1, bits.size() + 1);
    c.assign(0, apgen::tasks::parity::encode(v, bits), 1);
    gen.generate(c);
    const auto expect = apgen::tasks::parity::answer(v, bits);
    ok += std::equal(c.row(0).begin(), c.row(0).end(), expect.begin(), expect.end()) ? 1 : 0;
  }
  return static_cast<double>(ok) / static_cast<double>(count);
}
} // namespace

int main(int argc, char** argv) {
  namespace parity = apgen::tasks::parity;
  const std::size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1000;
  const auto vocab = parity::make_vocabulary();

  // 1. Train on every input of 1..5 bits.
  const parity::process_training setup{};
  const auto records = parity::process_records(vocab, setup);
  std::set<std::pair<std::vector<int>, std::vector<int>>> distinct;
  for (const auto& r : records) distinct.emplace(r.x, r.next);
  double loss = 0;
  auto t0 = clock_type::now();
  auto weights =
      parity::train_process_model(vocab, setup, [&](const apgen::train::step_stats& s) { loss = s.loss.total; });
  std::cout << "trained " << weights.parameter_count() << " parameters on " << records.size() << " transitions ("
            << distinct.size() << " distinct) of the inputs of 1.." << setup.max_input_length
            << " bits: " << setup.steps << " steps in " << seconds_since(t0) << " s, final loss " << loss << "\n";
  auto gen = parity::make_process_generator(apgen::nn::transformer(weights));

  // 2. A short string step by step.
  const std::vector<int> bits{1, 1, 0, 1, 0, 0, 1, 1, 1};
  apgen::canvas small(vocab, 1, bits.size() + 1);
  small.assign(0, parity::encode(vocab, bits), 1);
  std::cout << "step  0: " << apgen::to_text(vocab, small, 0, " ") << "\n";
  apgen::no_trace no_trace;
  gen.generate(small, no_trace, [&](const apgen::canvas& c, const apgen::step_report& s) {
    std::cout << "step " << (s.step + 1 < 10 ? " " : "") << s.step + 1 << ": " << apgen::to_text(vocab, c, 0, " ")
              << "\n";
  });

  // 3. A long string: every step re-encodes the whole row.
  std::mt19937 rng(7);
  std::vector<int> long_bits(n);
  for (auto& b : long_bits) b = static_cast<int>(rng() & 1u);
  apgen::canvas big(vocab, 1, n + 1);
  big.assign(0, parity::encode(vocab, long_bits), 1);
  t0 = clock_type::now();
  const auto result = gen.generate(big);
  const double sec = seconds_since(t0);
  const auto expect = parity::answer(vocab, long_bits);
  const bool ok = std::equal(big.row(0).begin(), big.row(0).end(), expect.begin(), expect.end());
  std::cout << "n = " << n << ": " << apgen::to_text(vocab, big, 0, " ") << " in " << result.rows[0].steps << " steps, "
            << sec << " s (" << (ok ? "correct" : "WRONG") << ", stop: " << apgen::to_string(result.rows[0].reason)
            << ")\n";
  std::cout << "random strings of 1..64 bits: " << 100 * accuracy(gen, vocab, 200, 1, 64, 11) << "% correct\n";

  // 4. The same model trained only on the seven transitions of 2-bit inputs.
  auto two_bits = setup;
  two_bits.min_input_length = two_bits.max_input_length = 2;
  auto gen2 = parity::make_process_generator(apgen::nn::transformer(parity::train_process_model(vocab, two_bits)));
  std::cout << "trained on 2-bit inputs only: " << 100 * accuracy(gen2, vocab, 200, 1, 2, 11)
            << "% correct on 1..2 bits, " << 100 * accuracy(gen2, vocab, 200, 4, 64, 11) << "% on 4..64 bits\n";
  return ok ? 0 : 1;
}
