// Two-sided Dyck-k generation by insertion: the Dyck oracle grows [BOS] by inserting cancelling bracket pairs at
// random gaps (insert, then unmask), and the engine stops each row when a round inserts nothing. Every word is
// checked with the verifier.
//
// usage: 02_dyck_generation [k] [max_length] [rows]
#include <apgen/apgen.hpp>

#include <cstdlib>
#include <iostream>

int main(int argc, char** argv) {
  const std::size_t k = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 2;
  const std::size_t max_len = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 24;
  const std::size_t rows = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 8;
  const auto vocab = apgen::tasks::dyck::make_vocabulary(k);
  apgen::canvas canvas(vocab, rows, max_len + 2);
  for (std::size_t r = 0; r < rows; ++r) canvas.assign(r, {*vocab.bos()}, 1);
  auto gen = apgen::make_generator(apgen::tasks::dyck::oracle(vocab, {k, max_len, 0.1, 0.3}),
                                   apgen::schedules::any_process<>(), {.seed = 7});
  const auto result = gen.generate(canvas);
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
