// A callable with the wrong signature is rejected with a message listing the accepted shapes.
// APGEN_EXPECT_ERROR: the function must take
#include <apgen/apgen.hpp>

int main() {
  auto model = apgen::make_denoiser(3, [](int) {});
  (void)model;
}
