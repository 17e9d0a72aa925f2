// Polish remasks decoded tokens: a generator whose edit set cannot remask must be refused at compile time.
// APGEN_EXPECT_ERROR: polish needs remask
#include <apgen/apgen.hpp>

int main() {
  apgen::vocabulary v({"a", "b"});
  auto model = apgen::make_denoiser(v.size(), [](std::span<const int>, apgen::matrix_view<float>) {});
  using polished = apgen::schedules::with_polish<apgen::schedules::masked_diffusion<>>;
  apgen::generator<decltype(model), polished, apgen::edits::mdm> gen(model,
                                                                     polished(apgen::schedules::masked_diffusion<>{}));
  (void)gen;
}
