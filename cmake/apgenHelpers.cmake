# Helpers for apgen's own tests, examples and benchmarks. Included by the top-level CMakeLists.txt only when one of
# APGEN_BUILD_TESTS / _EXAMPLES / _BENCHMARKS is on; nothing here is installed or exported.

include_guard(GLOBAL)

# apgen_warnings: warning flags for our own test, example and bench sources (not exported, never on apgen::apgen).
# -Wshadow/-Wconversion were tried and are too noisy; unknown pragmas are silenced so `#pragma omp` compiles
# quietly in builds without OpenMP.
if(NOT TARGET apgen_warnings)
  add_library(apgen_warnings INTERFACE)
  target_compile_options(apgen_warnings INTERFACE
    "$<$<CXX_COMPILER_ID:GNU,Clang,AppleClang,IntelLLVM>:-Wall;-Wextra;-Wpedantic;-Wno-unknown-pragmas>"
    # g++ 12 reports its own AVX-512 intrinsic headers (reached through xsimd) as maybe-uninitialized.
    "$<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>"
    "$<$<CXX_COMPILER_ID:MSVC>:/W4;/permissive->")
endif()

# apgen_link_core(<target> <scope>): apgen::openmp when it exists, else apgen::apgen.
function(apgen_link_core target scope)
  if(TARGET apgen::openmp)
    target_link_libraries(${target} ${scope} apgen::openmp)
  else()
    target_link_libraries(${target} ${scope} apgen::apgen)
  endif()
endfunction()

# apgen_add_test_folder(<folder>)
#   Every tests/<folder>/test_*.cpp plus tests/support/doctest_main.cpp becomes ONE executable test_<folder>.
#   Each doctest TEST_CASE becomes its own ctest named "<folder>.<test case name>" with label <folder>.
#   Tests use the build type's flags (no apgen::optimize), except where a folder's kernels have a path of their
#   own for the machine's full instruction set (AVX-512 here): sampling runs on that path only, and nn runs on
#   both (test_nn for the baseline, test_nn_native with apgen::optimize, ctests "nn_native.*"), and its
#   transformer tests also at AVX2 + FMA where the machine runs it (test_nn_avx2, ctests "nn_avx2.*"). Needs
#   find_package(doctest) and doctest.cmake included in the calling directory (tests/CMakeLists.txt does both).
function(apgen_add_test_folder folder)
  file(GLOB _sources CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/tests/${folder}/test_*.cpp")
  if(NOT _sources)
    return()
  endif()
  list(SORT _sources)
  set(_native OFF)
  if(folder STREQUAL "sampling")
    set(_native ON)
  endif()
  _apgen_test_executable(test_${folder} "${folder}" ${_native} ${_sources})
  if(folder STREQUAL "nn")
    _apgen_test_executable(test_nn_native "nn_native" ON ${_sources})
    # The transformer's tests once more at AVX2 + FMA, the common deployment target between the baseline and
    # AVX-512 (8-float vectors, Eigen's GEBP path): its bit-for-bit batch and thread promise is tested there too.
    # Only where the compiler takes the flags and this machine runs them, and not in a sanitizer build (test_nn
    # already runs the same Eigen path there; the twin is about floats, not memory).
    if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang" AND NOT CMAKE_CXX_FLAGS MATCHES "-fsanitize")
      include(CheckCXXSourceRuns)
      set(CMAKE_REQUIRED_FLAGS "-mavx2 -mfma")
      check_cxx_source_runs("int main() { __builtin_cpu_init(); return __builtin_cpu_supports(\"avx2\") && __builtin_cpu_supports(\"fma\") ? 0 : 1; }"
                            APGEN_HOST_RUNS_AVX2)
      unset(CMAKE_REQUIRED_FLAGS)
      if(APGEN_HOST_RUNS_AVX2)
        _apgen_test_executable(test_nn_avx2 "nn_avx2" OFF "${PROJECT_SOURCE_DIR}/tests/nn/test_transformer.cpp")
        target_compile_options(test_nn_avx2 PRIVATE -mavx2 -mfma)
      endif()
    endif()
    # g++ 12 warns inside its own avx512fintrin.h (`__Y` used uninitialized, from _mm512_undefined_pd) wherever
    # Eigen's AVX-512 double-precision exp is inlined: a false positive. The baseline twin, test_nn, compiles
    # the same sources with the warning on.
    target_compile_options(test_nn_native PRIVATE $<$<CXX_COMPILER_ID:GNU>:-Wno-uninitialized>)
  endif()
endfunction()

function(_apgen_test_executable target prefix native)
  add_executable(${target} ${ARGN} "${PROJECT_SOURCE_DIR}/tests/support/doctest_main.cpp")
  apgen_link_core(${target} PRIVATE)
  target_link_libraries(${target} PRIVATE apgen_warnings doctest::doctest)
  target_include_directories(${target} PRIVATE "${PROJECT_SOURCE_DIR}/tests")
  target_compile_definitions(${target} PRIVATE "APGEN_TEST_DATA_DIR=\"${PROJECT_SOURCE_DIR}/tests/data\"")
  target_compile_definitions(${target} PRIVATE "APGEN_DATA_DIR=\"${PROJECT_SOURCE_DIR}/data\"")
  if(native)
    target_link_libraries(${target} PRIVATE apgen::optimize)
  endif()
  if(TARGET apgen::xtensor AND prefix STREQUAL "interop")
    target_link_libraries(${target} PRIVATE apgen::xtensor)
  endif()
  doctest_discover_tests(${target}
    TEST_PREFIX "${prefix}."
    PROPERTIES LABELS "${prefix}" TIMEOUT 600)
endfunction()

# apgen_add_header_test(): one generated translation unit per include/apgen/**/*.hpp that includes only that header
# (twice, to check the include guard), all linked into test_headers_selfcontained; ctest "headers.selfcontained"
# runs it, but the real check is that it compiles. Compiled WITHOUT OpenMP on purpose: every other test links
# apgen::openmp, so this is what keeps the no-OpenMP configuration compiling.
function(apgen_add_header_test)
  file(GLOB_RECURSE _headers CONFIGURE_DEPENDS RELATIVE "${PROJECT_SOURCE_DIR}/include"
       "${PROJECT_SOURCE_DIR}/include/apgen/*.hpp")
  list(SORT _headers)
  if(NOT TARGET apgen::xtensor)
    list(REMOVE_ITEM _headers "apgen/interop/xtensor.hpp")
  endif()
  set(_gen_dir "${CMAKE_CURRENT_BINARY_DIR}/headers_selfcontained")
  set(_sources "${_gen_dir}/main.cpp")
  file(CONFIGURE OUTPUT "${_gen_dir}/main.cpp" CONTENT "int main() { return 0; }\n")
  foreach(_header IN LISTS _headers)
    string(REGEX REPLACE "[/.]" "_" _stem "${_header}")
    file(CONFIGURE OUTPUT "${_gen_dir}/${_stem}.cpp"
         CONTENT "// Generated: checks that <${_header}> compiles on its own.\n#include <${_header}>\n#include <${_header}>\n"
         @ONLY)
    list(APPEND _sources "${_gen_dir}/${_stem}.cpp")
  endforeach()
  add_executable(test_headers_selfcontained ${_sources})
  target_link_libraries(test_headers_selfcontained PRIVATE apgen::apgen apgen_warnings)
  if(TARGET apgen::xtensor)
    target_link_libraries(test_headers_selfcontained PRIVATE apgen::xtensor)
  endif()
  add_test(NAME headers.selfcontained COMMAND test_headers_selfcontained)
  set_tests_properties(headers.selfcontained PROPERTIES LABELS headers)
endfunction()

# apgen_add_compile_fail_tests(): each tests/compile_fail/<stem>.cpp is an EXCLUDE_FROM_ALL object library
# compile_fail_<stem>; ctest "compile_fail.<stem>" builds it and passes only when the build fails. A line
#   // APGEN_EXPECT_ERROR: <regex>
# in the file also requires the compiler output to match <regex> (so it fails for the intended reason).
function(apgen_add_compile_fail_tests)
  file(GLOB _sources CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/tests/compile_fail/*.cpp")
  list(SORT _sources)
  foreach(_source IN LISTS _sources)
    get_filename_component(_stem "${_source}" NAME_WE)
    set(_target compile_fail_${_stem})
    add_library(${_target} OBJECT EXCLUDE_FROM_ALL "${_source}")
    apgen_link_core(${_target} PRIVATE)
    target_link_libraries(${_target} PRIVATE apgen_warnings)
    target_include_directories(${_target} PRIVATE "${PROJECT_SOURCE_DIR}/tests")
    add_test(NAME compile_fail.${_stem}
             COMMAND "${CMAKE_COMMAND}" --build "${PROJECT_BINARY_DIR}" --target ${_target} --config $<CONFIG>)
    # Two builds in one build tree at once would race on ninja's logs.
    set_tests_properties(compile_fail.${_stem} PROPERTIES LABELS compile_fail RESOURCE_LOCK apgen_build_tree)
    file(STRINGS "${_source}" _expect REGEX "^// APGEN_EXPECT_ERROR: " LIMIT_COUNT 1)
    if(_expect)
      string(REGEX REPLACE "^// APGEN_EXPECT_ERROR: *" "" _regex "${_expect}")
      # PASS_REGULAR_EXPRESSION ignores the exit code; a successful build never prints the diagnostic.
      set_tests_properties(compile_fail.${_stem} PROPERTIES PASS_REGULAR_EXPRESSION "${_regex}")
    else()
      set_tests_properties(compile_fail.${_stem} PROPERTIES WILL_FAIL TRUE)
    endif()
  endforeach()
endfunction()

# apgen_add_package_test(<name> <consumer source dir> [options passed to the consumer's configure...]):
# ctest "package.<name>" configures, builds and runs a consumer project with ctest --build-and-test; the consumer
# prints "apgen-consumer: version=<v> openmp=<0|1>", which must match this project's version and OpenMP state.
function(apgen_add_package_test name source_dir)
  set(_bin "${CMAKE_CURRENT_BINARY_DIR}/package/${name}")
  set(_build_options
      "-DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}"
      "-DAPGEN_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
      "-DAPGEN_EXPECTED_VERSION=${PROJECT_VERSION}"
      "-DAPGEN_WITH_OPENMP=${APGEN_WITH_OPENMP}" # the same choice for apgen as a subproject
      ${ARGN})
  set(_openmp 0)
  if(TARGET apgen::openmp)
    set(_openmp 1)
    list(APPEND _build_options "-DAPGEN_EXPECT_OPENMP=ON")
  endif()
  if(TARGET apgen::xtensor)
    list(APPEND _build_options "-DAPGEN_EXPECT_XTENSOR=ON")
  endif()
  if(EXISTS "${PROJECT_SOURCE_DIR}/include/apgen/apgen.hpp")
    list(APPEND _build_options "-DAPGEN_EXPECT_UMBRELLA=ON")
  endif()
  if(CMAKE_VERSION VERSION_GREATER_EQUAL 3.24)
    list(PREPEND _build_options --fresh) # a fresh cache each run: nothing stale hides a packaging change
  endif()
  get_property(_multi GLOBAL PROPERTY GENERATOR_IS_MULTI_CONFIG)
  if(_multi)
    set(_config_args --build-config $<CONFIG>)
  else()
    set(_config_args "")
    if(CMAKE_BUILD_TYPE)
      list(APPEND _build_options "-DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE}")
    endif()
  endif()
  add_test(NAME package.${name}
           COMMAND "${CMAKE_CTEST_COMMAND}"
                   --build-and-test "${source_dir}" "${_bin}"
                   --build-generator "${CMAKE_GENERATOR}"
                   --build-makeprogram "${CMAKE_MAKE_PROGRAM}"
                   ${_config_args}
                   --build-noclean
                   --build-options ${_build_options}
                   --test-command consumer)
  set_tests_properties(package.${name} PROPERTIES
    LABELS package
    TIMEOUT 300
    PASS_REGULAR_EXPRESSION "apgen-consumer: version=${PROJECT_VERSION} openmp=${_openmp}"
    FAIL_REGULAR_EXPRESSION "CMake Error;FAILED:")
endfunction()

# apgen_add_example(<source>): examples/NN_name.cpp -> executable NN_name and ctest "example.NN_name" (a smoke run).
# examples/NN_name.args, when present, holds the command-line arguments (shell-like quoting).
function(apgen_add_example source)
  get_filename_component(_stem "${source}" NAME_WE)
  get_filename_component(_dir "${source}" DIRECTORY)
  add_executable(${_stem} "${source}")
  apgen_link_core(${_stem} PRIVATE)
  target_link_libraries(${_stem} PRIVATE apgen::optimize apgen_warnings)
  target_compile_definitions(${_stem} PRIVATE "APGEN_DATA_DIR=\"${PROJECT_SOURCE_DIR}/data\"")
  set(_args "")
  if(EXISTS "${_dir}/${_stem}.args")
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_dir}/${_stem}.args")
    file(READ "${_dir}/${_stem}.args" _args_text)
    string(STRIP "${_args_text}" _args_text)
    separate_arguments(_args UNIX_COMMAND "${_args_text}")
  endif()
  add_test(NAME example.${_stem} COMMAND ${_stem} ${_args} WORKING_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}")
  set_tests_properties(example.${_stem} PROPERTIES LABELS example TIMEOUT 300)
endfunction()

# apgen_add_bench(<source>): bench/bench_x.cpp -> executable bench_x with Google Benchmark and ctest
# "bench_smoke.bench_x" (a run with a tiny minimum time, to keep benches compiling and running; never a timing).
# A bench that defines neither main nor BENCHMARK_MAIN() gets benchmark::benchmark_main.
function(apgen_add_bench source)
  get_filename_component(_stem "${source}" NAME_WE)
  add_executable(${_stem} "${source}")
  file(STRINGS "${source}" _has_main REGEX "BENCHMARK_MAIN|int[ \t]+main[ \t]*\\(" LIMIT_COUNT 1)
  if(_has_main)
    target_link_libraries(${_stem} PRIVATE benchmark::benchmark)
  else()
    target_link_libraries(${_stem} PRIVATE benchmark::benchmark_main)
  endif()
  apgen_link_core(${_stem} PRIVATE)
  target_link_libraries(${_stem} PRIVATE apgen::optimize apgen_warnings)
  target_compile_definitions(${_stem} PRIVATE "APGEN_DATA_DIR=\"${PROJECT_SOURCE_DIR}/data\"")
  # Google Benchmark 1.7.1 takes a plain number of seconds here (newer versions also accept "0.001s").
  add_test(NAME bench_smoke.${_stem} COMMAND ${_stem} --benchmark_min_time=0.001)
  set_tests_properties(bench_smoke.${_stem} PROPERTIES LABELS bench TIMEOUT 600)
endfunction()

# apgen_add_format_test(): ctest "format.clang_format" runs `clang-format --dry-run -Werror` over every C++ file
# of the project, so a change that does not follow .clang-format fails the test suite. Formatting differs between
# clang-format releases, so the test is added only for the release the style was written against (14, Debian
# 12's); with another release, or none, it is left out with a message.
function(apgen_add_format_test)
  find_program(APGEN_CLANG_FORMAT NAMES clang-format-14 clang-format)
  if(NOT APGEN_CLANG_FORMAT)
    message(STATUS "apgen: clang-format not found; the format test is left out")
    return()
  endif()
  execute_process(COMMAND "${APGEN_CLANG_FORMAT}" --version OUTPUT_VARIABLE _version ERROR_QUIET)
  if(NOT _version MATCHES "version 14\\.")
    message(STATUS "apgen: ${APGEN_CLANG_FORMAT} is not clang-format 14; the format test is left out")
    return()
  endif()
  set(_files)
  foreach(_folder IN ITEMS include tests examples bench fuzz)
    file(GLOB_RECURSE _found CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/${_folder}/*.hpp"
         "${PROJECT_SOURCE_DIR}/${_folder}/*.cpp")
    list(APPEND _files ${_found})
  endforeach()
  list(SORT _files)
  add_test(NAME format.clang_format COMMAND "${APGEN_CLANG_FORMAT}" --dry-run -Werror ${_files}
           WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}")
  set_tests_properties(format.clang_format PROPERTIES LABELS format)
endfunction()
