// The main demo: AP-MDM solves parity by a process of edits, not by writing an answer. The exact parity oracle
// (remask every 0, remask a leading pair of 1s, delete every MASK) runs through the same engine a learned model
// would. First a short string step by step, with the op-level trace as JSON lines; then n = 10,000 bits.
//
// usage: 01_parity_process [n] [trace.jsonl] [--svg FILE]
//   --svg  draws three short strings' processes as a picture (io/trace_svg.hpp): one line per state, remasks in
//          orange, deletes in red where the deleted MASK stood
#include <apgen/apgen.hpp>
#include <apgen/engine/process_trace.hpp>
#include <apgen/io/trace_svg.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  std::vector<std::string> positional;
  std::string svg;
  for (int k = 1; k < argc; ++k) {
    const std::string a = argv[k];
    if (a == "--svg" && k + 1 < argc)
      svg = argv[++k];
    else
      positional.push_back(a);
  }
  const std::size_t n = !positional.empty() ? std::strtoul(positional[0].c_str(), nullptr, 10) : 10000;
  const auto vocab = apgen::tasks::parity::make_vocabulary();

  // 1. A short string, step by step.
  const std::vector<int> bits{1, 0, 1, 1, 0, 1, 1, 1, 0, 1};
  apgen::canvas small(vocab, 1, bits.size() + 1);
  small.assign(0, apgen::tasks::parity::encode(vocab, bits), 1);
  auto gen = apgen::make_generator(apgen::tasks::parity::oracle(vocab), apgen::schedules::any_process<>());
  std::cout << "step  0: " << apgen::to_text(vocab, small, 0, " ") << "\n";
  apgen::op_trace trace;
  gen.generate(small, trace, [&](const apgen::canvas& c, const apgen::step_report& s) {
    std::cout << "step " << (s.step + 1 < 10 ? " " : "") << s.step + 1 << ": " << apgen::to_text(vocab, c, 0, " ")
              << "   (" << s.deltas[0].remasked << " remasked, " << s.deltas[0].erased << " deleted)\n";
  });
  std::cout << "answer: " << apgen::to_text(vocab, small, 0, " ") << "  (expected "
            << vocab.to_text(apgen::tasks::parity::answer(vocab, bits), " ") << ")\n";
  if (positional.size() > 1) {
    std::ofstream out(positional[1]);
    apgen::io::write_jsonl(out, trace.records(), &vocab);
    std::cout << trace.records().size() << " edits written to " << positional[1] << "\n";
  }
  if (!svg.empty()) { // three strings as one batch, drawn as small multiples
    const std::vector<std::vector<int>> batch{bits, {1, 1, 0, 1}, {0, 1, 1, 0, 1, 1, 1}};
    apgen::canvas c(vocab, batch.size(), bits.size() + 1);
    for (std::size_t r = 0; r < batch.size(); ++r) c.assign(r, apgen::tasks::parity::encode(vocab, batch[r]), 1);
    apgen::process_trace steps(c);
    gen.generate(c, steps);
    std::ofstream out(svg);
    apgen::io::write_trace_svg(out, steps, vocab);
    std::cout << "the process of " << batch.size() << " strings drawn in " << svg << "\n";
  }

  // 2. A long string: each step re-reads the whole sequence, as a learned denoiser would.
  std::mt19937 rng(2026);
  std::vector<int> long_bits(n);
  for (auto& b : long_bits) b = static_cast<int>(rng() & 1u);
  apgen::canvas big(vocab, 1, n + 1);
  big.assign(0, apgen::tasks::parity::encode(vocab, long_bits), 1);
  const auto t0 = std::chrono::steady_clock::now();
  const auto result = gen.generate(big);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const auto expect = apgen::tasks::parity::answer(vocab, long_bits);
  const bool ok = std::equal(big.row(0).begin(), big.row(0).end(), expect.begin(), expect.end());
  std::cout << "n = " << n << ": " << apgen::to_text(vocab, big, 0, " ") << " in " << result.rows[0].steps << " steps, "
            << ms << " ms (" << (ok ? "correct" : "WRONG") << ", stop: " << apgen::to_string(result.rows[0].reason)
            << ")\n";
  return ok ? 0 : 1;
}
