// Eigen and xtensor views of score buffers alias the buffer (no copy) with the right shapes.
#include <apgen/core/denoiser_output.hpp>
#include <apgen/interop/eigen.hpp>
#include <apgen/interop/xtensor.hpp>

#include <doctest/doctest.h>

TEST_SUITE("interop") {

  TEST_CASE("Eigen maps of a row's token and control logits write into the output") {
    apgen::vocabulary v({"a", "b", "c"});
    apgen::canvas c(v, 2, 8);
    c.assign(0, {1, 2});
    c.assign(1, {3, 0, 1});
    apgen::denoiser_output out;
    out.reshape(c, apgen::heads::tokens_and_controls);
    auto z = apgen::interop::token_logits(out, 1);
    CHECK(z.rows() == 3);
    CHECK(z.cols() == 4);
    z.setConstant(2.5f);
    z(2, 3) = 7.0f;
    CHECK(out.tokens(1)(2, 3) == 7.0f);
    CHECK(out.tokens(1)(0, 0) == 2.5f);
    auto ctl = apgen::interop::control_logits(out, 0);
    CHECK(ctl.rows() == 2);
    CHECK(ctl.cols() == 3);
    ctl(1, 2) = 1.0f;
    CHECK(out.controls(0)(1, 2) == 1.0f);
    const apgen::denoiser_output& view = out;
    CHECK(apgen::interop::token_logits(view, 1)(2, 3) == 7.0f);
  }

  TEST_CASE("an xtensor adaptor of a row's token logits has its shape and aliases it") {
    apgen::vocabulary v({"a", "b"});
    apgen::canvas c(v, 1, 4);
    c.assign(0, {1, 2, 1, 2});
    apgen::denoiser_output out;
    out.reshape(c, apgen::heads::tokens_only);
    auto x = apgen::interop::token_logits_xt(out, 0);
    CHECK(x.shape()[0] == 4);
    CHECK(x.shape()[1] == 3);
    x(3, 1) = 4.0f;
    CHECK(out.tokens(0)(3, 1) == 4.0f);
  }

} // TEST_SUITE
