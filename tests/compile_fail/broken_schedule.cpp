// A schedule without select() (it could mark positions but never choose edits) is not a schedule: the
// generator's constraint names the concept.
// APGEN_EXPECT_ERROR: schedule
#include <apgen/apgen.hpp>

#include <support/models.hpp>

struct mark_only {
  using sampler_type = apgen::sampling::greedy;
  using default_edits = apgen::edits::mdm;
  using default_stop = apgen::stopping::until_decoded;
  apgen::sampling::greedy sampler() const { return {}; }
  apgen::sampling::confidence_measure measure() const { return apgen::sampling::confidence_measure::probability; }
  apgen::head_set heads() const { return apgen::heads::tokens_only; }
  void reset(const apgen::canvas&) {}
  void mark(const apgen::canvas&, const apgen::step_context&, apgen::step_plan&) {}
};

int main() {
  apgen::generator<apgen::testing::hashed_model, mark_only> gen(apgen::testing::hashed_model{});
  (void)gen;
}
