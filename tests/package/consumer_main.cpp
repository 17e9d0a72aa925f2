// Package-consumption test, shared by the find_package, add_subdirectory and FetchContent consumers: the
// installed/added headers compile and the targets carry what they promise.
#if APGEN_CONSUMER_UMBRELLA
#include <apgen/apgen.hpp>
#endif

#include <cstdio>
#include <cstring>

#if defined(APGEN_USE_OPENMP) && !defined(_OPENMP)
#error "apgen::openmp defines APGEN_USE_OPENMP but OpenMP compile flags did not reach the consumer"
#endif

int main() {
#if defined(APGEN_USE_OPENMP)
  const int openmp = 1;
#else
  const int openmp = 0;
#endif
  if (std::strcmp(apgen::version_string, APGEN_CONSUMER_EXPECTED_VERSION) != 0) {
    std::printf("apgen-consumer: version mismatch: headers say %s, package says %s\n", apgen::version_string,
                APGEN_CONSUMER_EXPECTED_VERSION);
    return 1;
  }
  std::printf("apgen-consumer: version=%s openmp=%d\n", apgen::version_string, openmp);
  return 0;
}
