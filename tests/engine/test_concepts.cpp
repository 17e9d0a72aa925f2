// Every policy satisfies its concept, and things that are not policies do not.
#include <apgen/apgen.hpp>

#include <support/models.hpp>

#include <doctest/doctest.h>

namespace {
struct no_heads {
  std::size_t vocab_size() const { return 3; }
  void predict(const apgen::canvas&, const apgen::step_context&, apgen::denoiser_output&) {}
};
// Only its type is used (in a concept check below).
using row_fn_type = decltype([](std::span<const apgen::token_id>, apgen::matrix_view<float>) {});
} // namespace

// Denoisers.
static_assert(apgen::denoiser<apgen::testing::hashed_model>);
static_assert(apgen::denoiser<apgen::tasks::parity::oracle>);
static_assert(apgen::denoiser<apgen::tasks::dyck::oracle>);
static_assert(apgen::denoiser<apgen::callable_denoiser<row_fn_type>>);
static_assert(!apgen::denoiser<int>);
static_assert(!apgen::denoiser<no_heads>);
// Schedules.
static_assert(apgen::schedule<apgen::schedules::autoregressive<>>);
static_assert(apgen::schedule<apgen::schedules::masked_diffusion<apgen::sampling::top_p>>);
static_assert(apgen::schedule<apgen::schedules::threshold<>>);
static_assert(apgen::schedule<apgen::schedules::blockwise<apgen::sampling::temperature>>);
static_assert(apgen::schedule<apgen::schedules::any_process<>>);
static_assert(apgen::schedule<apgen::schedules::with_polish<apgen::schedules::threshold<>>>);
static_assert(!apgen::schedule<apgen::sampling::greedy>);
// Samplers, stop rules, edit sets, recorders.
static_assert(apgen::token_sampler<apgen::sampling::greedy>);
static_assert(apgen::token_sampler<apgen::sampling::temperature>);
static_assert(apgen::token_sampler<apgen::sampling::top_k>);
static_assert(apgen::token_sampler<apgen::sampling::top_p>);
static_assert(!apgen::token_sampler<int>);
static_assert(apgen::stop_rule<apgen::stopping::until_decoded>);
static_assert(apgen::stop_rule<apgen::stopping::max_length>);
static_assert(!apgen::stop_rule<apgen::sampling::greedy>);
static_assert(apgen::edit_set_type<apgen::edits::any_process>);
static_assert(!apgen::edit_set_type<int>);
static_assert(apgen::trace_recorder<apgen::no_trace>);
static_assert(apgen::trace_recorder<apgen::op_trace>);
// Edit sets say what they allow.
static_assert(apgen::edits::mdm::allowed == apgen::op_unmask);
static_assert(apgen::edits::arm_append::insert_at_end_only);
static_assert(!apgen::edits::any_process::insert_at_end_only);
static_assert(apgen::edits::any_process::allows<apgen::edits::erase>);
static_assert(!apgen::edits::mdm::allows<apgen::edits::remask>);

// Backends.
static_assert(apgen::backends::backend<apgen::backends::serial>);
static_assert(apgen::backends::backend<apgen::backends::simd>);
static_assert(apgen::backends::backend<apgen::backends::omp>);
static_assert(
    apgen::backends::backend<apgen::backends::cuda>); // a backend, not implemented: require_implemented says so
static_assert(!apgen::backends::backend<int>);
static_assert(!apgen::backends::backend<apgen::sampling::greedy>);

TEST_CASE("backend tags name themselves and say whether they are available") {
  CHECK(apgen::backends::serial::name() == "serial");
  CHECK(apgen::backends::serial::available());
  CHECK(apgen::backends::omp::available() == (APGEN_HAS_OPENMP != 0));
  CHECK_FALSE(apgen::backends::cuda::available());
  CHECK(apgen::backends::default_backend::available());
}
