// The smallest complete generation: a vocabulary, a callable denoiser that prefers the token after the one to
// its left, and masked-diffusion decoding of three rows at once.
#include <apgen/apgen.hpp>

#include <iostream>

int main() {
  apgen::vocabulary vocab({"a", "b", "c", "d"});
  // Scores for each position: the letter after its left neighbour's (wrapping), "a" at the start.
  auto model =
      apgen::make_denoiser(vocab.size(), [](std::span<const apgen::token_id> row, apgen::matrix_view<float> logits) {
        for (std::size_t i = 0; i < row.size(); ++i) {
          const apgen::token_id left = i == 0 || row[i - 1] == 0 ? 4 : row[i - 1];
          logits.row(i)[static_cast<std::size_t>(left % 4 + 1)] = 5.0f;
        }
      });
  apgen::canvas canvas(vocab, 3, 8);
  for (std::size_t r = 0; r < 3; ++r) canvas.assign_prompt_and_masks(r, {}, 4 + r);
  auto gen = apgen::make_generator(model, apgen::schedules::top_probability());
  const auto result = gen.generate(canvas);
  for (std::size_t r = 0; r < 3; ++r)
    std::cout << apgen::to_text(vocab, canvas, r) << "  (" << result.rows[r].steps << " steps, "
              << apgen::to_string(result.rows[r].reason) << ")\n";
}
