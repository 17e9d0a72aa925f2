// A type without predict() is not a denoiser: the generator's constraint names the concept.
// APGEN_EXPECT_ERROR: denoiser
#include <apgen/apgen.hpp>

struct no_predict {
  std::size_t vocab_size() const { return 3; }
  apgen::head_set heads() const { return apgen::heads::tokens_only; }
};

int main() {
  apgen::generator<no_predict, apgen::schedules::masked_diffusion<>> gen(no_predict{});
  (void)gen;
}
