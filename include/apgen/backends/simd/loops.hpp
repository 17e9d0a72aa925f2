#pragma once
/// \file
/// The simd backend's loop: single-threaded like serial's (its vector code is in the kernels the bodies call).

#include <apgen/backends/serial/loops.hpp>

namespace apgen::backends::simd_impl {

using serial_impl::for_each_index;

} // namespace apgen::backends::simd_impl
