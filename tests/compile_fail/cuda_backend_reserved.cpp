// Using the reserved CUDA backend tag must fail to compile with a message that names the alternatives.
// APGEN_EXPECT_ERROR: backends::cuda is reserved
#include <apgen/apgen.hpp>

int main() {
  apgen::vocabulary v({"a"});
  apgen::canvas c(v, 1, 2);
  apgen::step_plan plan;
  plan.reshape(c, false);
  std::vector<apgen::row_delta> d(1);
  apgen::apply_transition<apgen::backends::cuda>(c, plan, d);
}
