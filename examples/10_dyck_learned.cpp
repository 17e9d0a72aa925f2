// Two-sided Dyck-k from a learned stochastic insertion process, beside an ARM of the same size
// (tasks/dyck/learned.hpp). With --train it trains both on the process oracle's runs (words of at most --max-length
// letters) and writes their weights and training curves to --models; without it, it loads them from there (and
// --max-length says what they were trained on). Then it samples:
//   1. words from [BOS]: how many are two-sided Dyck words (with the 95% Wilson interval), their lengths, and how
//      many came out longer than any training word;
//   2. coverage: the distinct words of length <= --coverage-length among --coverage-samples draws, against the exact
//      number of such words (count_words), and the total variation distance of each model's distribution over those
//      words (longer ones as one outcome) from the oracle's, beside the distance between two oracle runs;
//   3. beyond the training lengths: each model continues from --long oracle words of 1 to 4 times the training
//      length (the process model runs its rounds on them, the ARM writes after them until EOS): how many results
//      are Dyck words.
// Both models draw their tokens by nucleus sampling (--top-p, default 0.999: a draw leaves out the least likely
// tokens that together hold 0.1% of the mass, which cuts the rare slips on the process's forced moves and leaves
// its choices as they are); the rows marked "t = 1" draw from the full softmax, to show what the cut is worth.
// The process model samples within the process's token sets ("$" only at the first gap, process_encoder).
//
// usage: 10_dyck_learned [--k K] [--train] [--steps N] [--trajectories N] [--max-length N] [--models DIR]
//                        [--samples N] [--coverage-samples N] [--coverage-length N] [--long N] [--top-p P]
//   defaults: training words of at most 32 letters, 10,000 samples, 100,000 coverage draws, coverage length 8 for
//   k = 2 and 6 above, 1,000 long starts, top-p 0.999
#include <apgen/apgen.hpp>
#include <apgen/core/proportion.hpp>
#include <apgen/tasks/dyck/count.hpp>
#include <apgen/tasks/dyck/learned.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#ifndef APGEN_DATA_DIR
#define APGEN_DATA_DIR "data"
#endif

namespace dyck = apgen::tasks::dyck;
using word = std::vector<apgen::token_id>;

namespace {

struct options {
  std::size_t k = 2, samples = 10000, coverage_samples = 100000, coverage_length = 0, long_starts = 1000;
  std::size_t trajectories = dyck::training{}.trajectories;
  std::size_t max_length = dyck::training{}.data.max_length;
  std::uint64_t steps = dyck::training{}.steps;
  double top_p = 0.999;
  bool train = false;
  std::string models = APGEN_DATA_DIR "/../models/dyck";
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr
      << "10_dyck_learned: " << why
      << "\nusage: 10_dyck_learned [--k K] [--train] [--steps N] [--trajectories N] [--max-length N] [--models DIR] "
         "[--samples N] [--coverage-samples N] [--coverage-length N] [--long N] [--top-p P]\n";
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  for (int a = 1; a < argc; ++a) {
    const std::string arg = argv[a];
    if (arg == "--train") {
      o.train = true;
      continue;
    }
    if (a + 1 >= argc) usage(arg + " needs a value");
    const std::string value = argv[++a];
    char* end = nullptr;
    const unsigned long long n = std::strtoull(value.c_str(), &end, 10);
    const bool number = !value.empty() && *end == '\0';
    if (arg == "--models") {
      o.models = value;
      continue;
    }
    if (arg == "--top-p") {
      o.top_p = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || !(o.top_p > 0 && o.top_p <= 1)) usage("--top-p needs a number in (0, 1]");
      continue;
    }
    if (!number) usage(arg + " needs a whole number, got \"" + value + "\"");
    if (arg == "--k")
      o.k = n;
    else if (arg == "--steps")
      o.steps = n;
    else if (arg == "--trajectories")
      o.trajectories = n;
    else if (arg == "--max-length")
      o.max_length = n;
    else if (arg == "--samples")
      o.samples = n;
    else if (arg == "--coverage-samples")
      o.coverage_samples = n;
    else if (arg == "--coverage-length")
      o.coverage_length = n;
    else if (arg == "--long")
      o.long_starts = n;
    else
      usage("unknown option " + arg);
  }
  if (o.k < 2 || o.k > dyck::max_pairs) usage("--k must be in [2, 4]");
  if (o.coverage_length == 0) o.coverage_length = o.k == 2 ? 8 : 6; // 2,357 and 949 words
  return o;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// Trains one model, writing its loss curve (window means of 50 steps) beside the weights.
template <class Train>
apgen::nn::transformer_weights train_and_save(const char* what, Train&& train, const std::string& weights_path) {
  const auto t0 = std::chrono::steady_clock::now();
  std::ofstream curve(weights_path.substr(0, weights_path.size() - std::string(".safetensors").size()) + ".curve.csv");
  curve << "step,loss\n";
  double window = 0;
  auto w = train([&](const apgen::train::step_stats& s) {
    window += s.loss.total;
    if ((s.step + 1) % 50 == 0) {
      curve << s.step + 1 << ',' << window / 50 << '\n';
      window = 0;
    }
  });
  apgen::nn::save_transformer(weights_path, w);
  std::printf("trained the %s (%zu parameters) in %.0f s -> %s\n", what, w.parameter_count(), seconds_since(t0),
              weights_path.c_str());
  return w;
}

struct summary {
  apgen::proportion valid;
  std::size_t longer_than_training = 0, longer_valid = 0, max_length = 0, unfinished = 0;
  double mean_length = 0, mean_steps = 0, seconds = 0;
};

summary summarise(const std::vector<dyck::sample>& s, std::size_t k, std::size_t train_max, double seconds) {
  summary out;
  out.seconds = seconds;
  double letters = 0, steps = 0;
  for (const auto& x : s) {
    const bool ok = x.valid(k);
    out.valid.successes += ok;
    ++out.valid.trials;
    out.unfinished += !x.finished;
    letters += static_cast<double>(x.word.size());
    steps += x.steps;
    out.max_length = std::max(out.max_length, x.word.size());
    if (x.finished && x.word.size() > train_max) {
      ++out.longer_than_training;
      out.longer_valid += ok;
    }
  }
  out.mean_length = letters / static_cast<double>(s.size());
  out.mean_steps = steps / static_cast<double>(s.size());
  return out;
}

void print_row(const char* name, const summary& s) {
  std::printf("| %-14s | %6zu | %6.2f%% [%.2f, %.2f] | %9zu | %5.1f / %3zu | %zu (%zu valid) | %6.1f | %7.1f |\n", name,
              s.valid.trials, 100 * s.valid.rate(), 100 * s.valid.lower(), 100 * s.valid.upper(), s.unfinished,
              s.mean_length, s.max_length, s.longer_than_training, s.longer_valid, s.mean_steps,
              1e6 * s.seconds / static_cast<double>(s.valid.trials));
}

/// Frequencies of each valid word of length <= limit, and of "anything else" under the empty key {-1}.
std::map<word, std::size_t> histogram(const std::vector<dyck::sample>& s, std::size_t k, std::size_t limit) {
  std::map<word, std::size_t> h;
  for (const auto& x : s) ++h[x.valid(k) && x.word.size() <= limit ? x.word : word{-1}];
  return h;
}

double total_variation(const std::map<word, std::size_t>& a, std::size_t na, const std::map<word, std::size_t>& b,
                       std::size_t nb) {
  double tv = 0;
  for (const auto& [w, c] : a) {
    const auto it = b.find(w);
    tv += std::abs(static_cast<double>(c) / static_cast<double>(na) -
                   (it == b.end() ? 0.0 : static_cast<double>(it->second) / static_cast<double>(nb)));
  }
  for (const auto& [w, c] : b)
    if (!a.count(w)) tv += static_cast<double>(c) / static_cast<double>(nb);
  return tv / 2;
}

} // namespace

int main(int argc, char** argv) try {
  std::setvbuf(stdout, nullptr, _IOLBF, 0); // progress lines show as they come when the output is a file
  const options o = parse(argc, argv);
  const std::size_t k = o.k;
  const auto pv = dyck::make_process_vocabulary(k);
  const auto av = dyck::make_arm_vocabulary(k);
  dyck::training setup;
  setup.data.pairs = k;
  setup.steps = o.steps;
  setup.trajectories = o.trajectories;
  setup.data.max_length = o.max_length;
  const std::size_t train_max = setup.data.max_length;
  const std::string stem = o.models + "/dyck" + std::to_string(k);
  auto trained_or_loaded = [&]() -> std::pair<apgen::nn::transformer_weights, apgen::nn::transformer_weights> {
    if (!o.train)
      return {dyck::load_model(stem + "-process.safetensors", dyck::process_model_config(pv, setup.size)),
              dyck::load_model(stem + "-arm.safetensors", dyck::arm_model_config(av, setup.size))};
    std::filesystem::create_directories(o.models);
    const auto records = dyck::process_records(pv, setup).size();
    std::printf("Dyck-%zu: %zu oracle runs (words of at most %zu letters, stop %.2f, rate %.2f), %zu transitions; "
                "%llu steps of %zu for each model\n",
                k, setup.trajectories, train_max, setup.data.stop, setup.data.rate, records,
                static_cast<unsigned long long>(setup.steps), setup.batch_size);
    auto pw = train_and_save(
        "process model", [&](auto&& on) { return dyck::train_process_model(pv, setup, on); },
        stem + "-process.safetensors");
    auto aw = train_and_save(
        "ARM", [&](auto&& on) { return dyck::train_arm_model(av, setup, on); }, stem + "-arm.safetensors");
    return {std::move(pw), std::move(aw)};
  };
  const auto [pw, aw] = trained_or_loaded();
  const apgen::nn::transformer process_model(pw), arm_model(aw);
  const dyck::process_oracle oracle(pv, setup.data);

  // The models' samplers: nucleus at --top-p, and the full softmax beside it (top-p 1 draws from all tokens).
  const apgen::sampling::top_p nucleus(o.top_p);
  std::vector<std::pair<std::string, apgen::sampling::top_p>> samplers{{"", nucleus}};
  if (o.top_p < 1) samplers.emplace_back(", t = 1", apgen::sampling::top_p(1.0));
  std::printf("sampling: top-p %g%s\n", o.top_p, o.top_p < 1 ? " (rows marked t = 1: the full softmax)" : "");

  // 1. Words from [BOS]. The sampling seed and row keys differ from the training runs' (keys from 10^9 on).
  dyck::sampling_options so;
  so.first_key = 1'000'000'000;
  so.max_letters = std::max<std::size_t>(so.max_letters, 8 * train_max); // room for twice the longest start word
  auto timed = [&](auto&& run) {
    const auto t0 = std::chrono::steady_clock::now();
    auto s = run();
    return std::pair{std::move(s), seconds_since(t0)};
  };
  std::printf("\n%zu words from [BOS] (training words have at most %zu letters)\n", o.samples, train_max);
  std::printf("| %-14s | %6s | %-24s | %9s | %-11s | %-14s | %6s | %7s |\n", "generator", "words", "two-sided Dyck",
              "no finish", "length mean/max", ("longer than " + std::to_string(train_max)).c_str(), "steps", "us/word");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  {
    auto [os, ot] =
        timed([&] { return dyck::sample_process(oracle, k, o.samples, 11, so, apgen::sampling::greedy{}); });
    print_row("oracle", summarise(os, k, train_max, ot));
    for (const auto& [name, chosen] : samplers) {
      const auto sampler = chosen; // a copy: clang 14 cannot capture a structured binding in a lambda
      auto [ps, pt] = timed([&] { return dyck::sample_process(process_model, k, o.samples, 11, so, sampler); });
      print_row(("AP-MDM" + name).c_str(), summarise(ps, k, train_max, pt));
    }
    for (const auto& [name, chosen] : samplers) {
      const auto sampler = chosen; // a copy: clang 14 cannot capture a structured binding in a lambda
      auto [as, at] = timed([&] { return dyck::sample_arm(arm_model, k, o.samples, 11, so, sampler); });
      print_row(("ARM" + name).c_str(), summarise(as, k, train_max, at));
    }
  }

  // 2. Coverage of the short words and distance from the oracle's distribution.
  std::uint64_t all_short = 0;
  for (std::size_t n = 0; n <= o.coverage_length; n += 2) all_short += dyck::count_words(k, n);
  std::printf("\ncoverage: distinct Dyck-%zu words of length <= %zu among %zu draws (there are %llu); total variation "
              "distance from the oracle over those words (longer or invalid ones as one outcome)\n",
              k, o.coverage_length, o.coverage_samples, static_cast<unsigned long long>(all_short));
  std::printf("| %-14s | %-18s | %s |\n", "generator", "words covered", "TV from oracle");
  std::printf("|---|---|---|\n");
  so.first_key = 2'000'000'000;
  const auto reference = dyck::sample_process(oracle, k, o.coverage_samples, 21, so, apgen::sampling::greedy{});
  const auto ref_hist = histogram(reference, k, o.coverage_length);
  so.first_key = 3'000'000'000;
  auto report = [&](const char* name, const std::vector<dyck::sample>& s) {
    const auto h = histogram(s, k, o.coverage_length);
    const std::size_t covered = h.size() - (h.count(word{-1}) ? 1 : 0);
    std::printf("| %-14s | %6zu (%5.1f%%) | %.4f |\n", name, covered,
                100.0 * static_cast<double>(covered) / static_cast<double>(all_short),
                total_variation(h, s.size(), ref_hist, reference.size()));
  };
  report("oracle (again)", dyck::sample_process(oracle, k, o.coverage_samples, 31, so, apgen::sampling::greedy{}));
  report("AP-MDM", dyck::sample_process(process_model, k, o.coverage_samples, 31, so, nucleus));
  report("ARM", dyck::sample_arm(arm_model, k, o.coverage_samples, 31, so, nucleus));

  // 3. Beyond the training lengths: continue from long words.
  if (o.long_starts > 0) {
    // An equal share of words from oracles capped at 1.5, 2, 3 and 4 times the training length, so the lengths
    // spread out.
    std::vector<word> starts;
    const std::size_t caps[] = {train_max * 3 / 2, train_max * 2, train_max * 3, train_max * 4};
    for (std::size_t c = 0; c < 4; ++c) {
      dyck::process_options long_words = setup.data;
      long_words.max_length = caps[c];
      long_words.stop = 0.05;
      const std::size_t want = o.long_starts * (c + 1) / 4;
      for (std::uint64_t key = 4'000'000'000 + c * 100'000'000; starts.size() < want; key += 1024)
        for (auto& w : dyck::oracle_words(long_words, 1024, 41, key))
          if (w.size() > train_max && starts.size() < want) starts.push_back(std::move(w));
    }
    double mean = 0;
    for (const auto& w : starts) mean += static_cast<double>(w.size());
    so.starts = starts;
    so.first_key = 5'000'000'000;
    std::printf("\ncontinuing from %zu oracle words of %zu..%zu letters (mean %.1f): the process model runs its "
                "rounds on [BOS] w, the ARM writes after [BOS] w until EOS\n",
                starts.size(), train_max + 1, caps[3], mean / static_cast<double>(starts.size()));
    std::printf("| %-14s | %6s | %-24s | %9s | %-11s | %-14s | %6s | %7s |\n", "generator", "words", "two-sided Dyck",
                "no finish", "length mean/max", ("longer than " + std::to_string(train_max)).c_str(), "steps",
                "us/word");
    std::printf("|---|---|---|---|---|---|---|---|\n");
    auto [ps, pt] = timed([&] { return dyck::sample_process(process_model, k, starts.size(), 51, so, nucleus); });
    print_row("AP-MDM", summarise(ps, k, train_max, pt));
    auto [as, at] = timed([&] { return dyck::sample_arm(arm_model, k, starts.size(), 51, so, nucleus); });
    print_row("ARM", summarise(as, k, train_max, at));
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "10_dyck_learned: " << e.what() << "\n";
  return 1;
}
