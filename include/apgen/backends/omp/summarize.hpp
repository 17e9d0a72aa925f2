#pragma once
/// \file
/// The omp backend's logit pass: the simd backend's (threads split positions, not one position's vocabulary).

#include <apgen/backends/simd/summarize.hpp>

namespace apgen::backends::omp_impl {

using simd_impl::summarize;

} // namespace apgen::backends::omp_impl
