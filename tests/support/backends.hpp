#pragma once
// The CPU backends every backend-generic test runs over.
#include <apgen/backends/tags.hpp>

#define APGEN_TEST_CPU_BACKENDS apgen::backends::serial, apgen::backends::simd, apgen::backends::omp
