// A type that is not a backend tag cannot drive a generator: the constraint names the backend concept.
// APGEN_EXPECT_ERROR: backend
#include <apgen/apgen.hpp>

#include <support/models.hpp>

struct my_gpu {}; // no name(), available(), vectorized, threaded or max_threads()

int main() {
  auto gen = apgen::make_generator<void, my_gpu>(apgen::testing::hashed_model{}, apgen::schedules::top_probability());
  (void)gen;
}
