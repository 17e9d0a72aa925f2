// Two-sided Dyck-k generation by insertion: the Dyck oracle grows [BOS] by inserting cancelling bracket pairs at
// random gaps (insert, then unmask), and the engine stops each row when a round inserts nothing. Every word is
// checked with the verifier.
//
// usage: 02_dyck_generation [k] [max_length] [rows] [--svg FILE]
//   --svg  draws the batch's generation (io/trace_svg.hpp): inserted MASKs in blue, then unmasked in green
#include <apgen/apgen.hpp>
#include <apgen/engine/process_trace.hpp>
#include <apgen/io/trace_svg.hpp>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  std::vector<std::string> positional;
  std::string svg;
  for (int a = 1; a < argc; ++a) {
    const std::string arg = argv[a];
    if (arg == "--svg" && a + 1 < argc)
      svg = argv[++a];
    else
      positional.push_back(arg);
  }
  auto arg = [&](std::size_t i, std::size_t d) {
    return i < positional.size() ? std::strtoul(positional[i].c_str(), nullptr, 10) : d;
  };
  const std::size_t k = arg(0, 2), max_len = arg(1, 24), rows = arg(2, 8);
  const auto vocab = apgen::tasks::dyck::make_vocabulary(k);
  apgen::canvas canvas(vocab, rows, max_len + 2);
  for (std::size_t r = 0; r < rows; ++r) canvas.assign(r, {*vocab.bos()}, 1);
  auto gen = apgen::make_generator(apgen::tasks::dyck::oracle(vocab, {k, max_len, 0.1, 0.3}),
                                   apgen::schedules::any_process<>(), {.seed = 7});
  apgen::process_trace trace(canvas);
  const auto result = gen.generate(canvas, trace);
  if (!svg.empty()) {
    std::ofstream out(svg);
    apgen::io::write_trace_svg(out, trace, vocab);
    std::cout << "the generation of " << rows << " words drawn in " << svg << "\n";
  }
  std::size_t valid = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    const auto word = canvas.row(r).subspan(1);
    const bool ok = apgen::tasks::dyck::is_two_sided_dyck(word, k);
    valid += ok;
    std::cout << (ok ? "ok   " : "BAD  ") << vocab.to_text(word) << "   (" << word.size() << " letters, "
              << result.rows[r].steps << " steps, " << result.rows[r].totals.inserted << " inserts)\n";
  }
  std::cout << valid << "/" << rows << " two-sided Dyck-" << k << " words\n";
  return valid == rows ? 0 : 1;
}
