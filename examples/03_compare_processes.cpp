// One callable model decoded four ways, side by side: autoregressive, masked diffusion with each ordering (random,
// top probability, top1-top2 margin, lowest entropy, and a confidence threshold), and any-process (AP-MDM), which
// here starts from a single MASK and grows the row by inserts. The model knows a target text and is more sure of
// some positions than others; the steps each process takes are printed.
#include <apgen/apgen.hpp>

#include <iomanip>
#include <iostream>
#include <string>

namespace {
const std::string target = "any process generation";

apgen::vocabulary make_vocab() {
  std::vector<std::string> letters;
  for (char ch = 'a'; ch <= 'z'; ++ch) letters.emplace_back(1, ch);
  letters.emplace_back("_");
  return apgen::vocabulary(letters);
}

// Token logits favour the target letter at each position (more sharply at some positions). The controls grow a
// short row first: while it is shorter than the target, its first positions each insert a MASK (doubling the
// length, without overshooting) and every MASK is remasked, so nothing is decoded before the length is right;
// then one step unmasks everything.
auto make_model(const apgen::vocabulary& v) {
  std::vector<apgen::token_id> ids;
  for (char ch : target) ids.push_back(v.id(std::string(1, ch == ' ' ? '_' : ch)));
  return apgen::make_denoiser(
      v.size(),
      [ids](std::span<const apgen::token_id> row, apgen::matrix_view<float> z, apgen::matrix_view<float> ctl) {
        for (std::size_t i = 0; i < row.size(); ++i) {
          z(i, static_cast<std::size_t>(ids[i % ids.size()])) = 2.0f + static_cast<float>((i * 7) % 5);
          const bool growing = row.size() < ids.size();
          ctl(i, apgen::control_insert) = growing && i < ids.size() - row.size() ? 5.0f : -5.0f;
          ctl(i, apgen::control_remask) = growing ? 5.0f : -5.0f;
        }
      },
      apgen::heads::tokens_and_controls);
}

template <class Schedule, class Edits = typename Schedule::default_edits>
void run(const char* name, Schedule schedule, bool from_single_mask = false) {
  const auto v = make_vocab();
  apgen::canvas c(v, 1, target.size());
  c.assign_prompt_and_masks(0, {}, from_single_mask ? 1 : target.size());
  auto gen = apgen::make_generator<Edits>(make_model(v), schedule, {.seed = 3});
  const auto res = gen.generate(c);
  std::cout << std::left << std::setw(28) << name << std::setw(26) << apgen::to_text(v, c, 0) << std::right
            << std::setw(4) << res.rows[0].steps << " steps  (" << apgen::to_string(res.rows[0].reason) << ")\n";
}
} // namespace

int main() {
  using namespace apgen::schedules;
  run("autoregressive", autoregressive<>());
  run("MDM random order", random_order());
  run("MDM top probability", top_probability());
  run("MDM top1-top2 margin", top_margin());
  run("MDM lowest entropy", lowest_entropy());
  run("MDM top probability x4", top_probability(unmask_count::fixed_k(4)));
  run("MDM cosine, 6 steps", top_probability(unmask_count::cosine(6)));
  run("MDM threshold 0.6", threshold<>(0.6));
  run("semi-AR blocks of 8", blockwise<>(8, 2));
  run("AP-MDM from one MASK", any_process<>(), true);
}
