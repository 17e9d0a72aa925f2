#pragma once
/// \file
/// The library version. Kept in step with `project(apgen VERSION ...)` in the top-level CMakeLists.txt, which
/// refuses to configure when the two disagree.

#define APGEN_VERSION_MAJOR 0
#define APGEN_VERSION_MINOR 1
#define APGEN_VERSION_PATCH 0
/// One integer for `#if` comparisons: major * 10000 + minor * 100 + patch.
#define APGEN_VERSION (APGEN_VERSION_MAJOR * 10000 + APGEN_VERSION_MINOR * 100 + APGEN_VERSION_PATCH)

namespace apgen {
/// The version as "major.minor.patch".
inline constexpr const char* version_string = "0.1.0";
} // namespace apgen
