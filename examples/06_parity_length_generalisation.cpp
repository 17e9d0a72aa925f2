// The parity length-generalisation experiment, measured: train the learned process model (tasks/parity/learned.hpp)
// for each seed, then run it on random strings with lengths spread evenly over 1..max_length and on a few strings of
// long_length bits, in ragged batches, every step re-encoding every row. Prints accuracy, steps, wall time and the
// positions the transformer encoded per second; exits 1 unless every string of every seed is solved.
//
// usage: 06_parity_length_generalisation [strings = 1000] [max_length = 1000] [long_strings = 10]
//                                        [long_length = 10000] [seeds = 1] [batch = 64]
#include <apgen/apgen.hpp>
#include <apgen/tasks/parity/learned.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

namespace {
namespace parity = apgen::tasks::parity;
using clock_type = std::chrono::steady_clock;

struct tally {
  std::size_t strings = 0, correct = 0, steps = 0, positions = 0;
  double seconds = 0;
};

// Runs `inputs` through `gen` `batch` rows at a time; counts the positions encoded (the sum of row lengths over
// the steps each row was active).
template <class Generator>
tally run(Generator& gen, const apgen::vocabulary& v, const std::vector<std::vector<int>>& inputs, std::size_t batch) {
  tally t;
  for (std::size_t at = 0; at < inputs.size(); at += batch) {
    const std::size_t n = std::min(batch, inputs.size() - at);
    std::vector<std::size_t> caps(n);
    for (std::size_t r = 0; r < n; ++r) caps[r] = inputs[at + r].size() + 1;
    apgen::canvas c(v, caps);
    for (std::size_t r = 0; r < n; ++r) c.assign(r, parity::encode(v, inputs[at + r]), 1);
    std::size_t positions = 0;
    for (std::size_t r = 0; r < n; ++r) positions += c.length(r);
    apgen::no_trace off;
    const auto t0 = clock_type::now();
    const auto res = gen.generate(c, off, [&](const apgen::canvas& now, const apgen::step_report& s) {
      for (std::size_t r = 0; r < n; ++r)
        if (s.active[r]) positions += now.length(r);
    });
    t.seconds += std::chrono::duration<double>(clock_type::now() - t0).count();
    t.positions += positions;
    for (std::size_t r = 0; r < n; ++r) {
      const auto expect = parity::answer(v, inputs[at + r]);
      t.correct += std::equal(c.row(r).begin(), c.row(r).end(), expect.begin(), expect.end()) ? 1 : 0;
      t.steps += res.rows[r].steps;
    }
    t.strings += n;
  }
  return t;
}

void report(const char* what, const tally& t) {
  std::printf("  %-34s %5zu/%-5zu correct (%6.2f%%)  %8zu steps  %8.2f s  %6.2f M positions/s\n", what, t.correct,
              t.strings,
              100.0 * static_cast<double>(t.correct) / static_cast<double>(std::max<std::size_t>(t.strings, 1)),
              t.steps, t.seconds, static_cast<double>(t.positions) / std::max(t.seconds, 1e-9) / 1e6);
}
} // namespace

int main(int argc, char** argv) {
  auto arg = [&](int i, std::size_t d) { return argc > i ? std::strtoul(argv[i], nullptr, 10) : d; };
  const std::size_t strings = arg(1, 1000), max_length = arg(2, 1000), long_strings = arg(3, 10),
                    long_length = arg(4, 10000), seeds = arg(5, 1), batch = std::max<std::size_t>(1, arg(6, 64));
  const auto vocab = parity::make_vocabulary();
  bool all = true;
  for (std::size_t seed = 0; seed < seeds; ++seed) {
    parity::process_training setup;
    setup.seed = seed;
    const auto t0 = clock_type::now();
    double loss = 0;
    auto weights =
        parity::train_process_model(vocab, setup, [&](const apgen::train::step_stats& s) { loss = s.loss.total; });
    const double train_s = std::chrono::duration<double>(clock_type::now() - t0).count();
    std::printf("seed %zu: %zu parameters, trained on the inputs of %zu..%zu bits in %.2f s (final loss %.2e)\n", seed,
                weights.parameter_count(), setup.min_input_length, setup.max_input_length, train_s, loss);
    auto gen = parity::make_process_generator(apgen::nn::transformer(weights));
    std::mt19937_64 rng(1000 + seed);
    auto random_bits = [&](std::size_t n) {
      std::vector<int> b(n);
      for (auto& x : b) x = static_cast<int>(rng() & 1u);
      return b;
    };
    std::vector<std::vector<int>> spread, longs;
    for (std::size_t k = 0; k < strings; ++k)
      spread.push_back(random_bits(1 + k * max_length / std::max<std::size_t>(strings, 1)));
    for (std::size_t k = 0; k < long_strings; ++k) longs.push_back(random_bits(long_length));
    char label[96];
    std::snprintf(label, sizeof label, "%zu strings of 1..%zu bits", strings, max_length);
    const auto a = run(gen, vocab, spread, batch);
    report(label, a);
    std::snprintf(label, sizeof label, "%zu strings of %zu bits", long_strings, long_length);
    const auto b = run(gen, vocab, longs, batch);
    report(label, b);
    all = all && a.correct == a.strings && b.correct == b.strings;
  }
  std::printf("%s\n", all ? "every string solved" : "SOME STRINGS WRONG");
  return all ? 0 : 1;
}
