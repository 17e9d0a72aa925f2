# Shared by the consumer projects under tests/package/: builds "consumer" from consumer_main.cpp (one source for
# all three ways of consuming apgen) and checks that the package carries what the producing build had. Inputs (from apgen_add_package_test):
#   APGEN_EXPECTED_VERSION, APGEN_EXPECT_OPENMP, APGEN_EXPECT_XTENSOR, APGEN_EXPECT_UMBRELLA

if(NOT TARGET apgen::apgen OR NOT TARGET apgen::optimize)
  message(FATAL_ERROR "consumer: apgen::apgen and apgen::optimize must exist")
endif()
if(APGEN_EXPECT_OPENMP AND NOT TARGET apgen::openmp)
  message(FATAL_ERROR "consumer: apgen was built with apgen::openmp but the target is missing here")
endif()
if(APGEN_EXPECT_XTENSOR AND NOT TARGET apgen::xtensor)
  message(FATAL_ERROR "consumer: apgen was built with apgen::xtensor but the target is missing here")
endif()
# Machine-specific flags must never ride on the core target.
get_target_property(_opts apgen::apgen INTERFACE_COMPILE_OPTIONS)
if(_opts AND _opts MATCHES "march|mtune")
  message(FATAL_ERROR "consumer: apgen::apgen carries machine flags: ${_opts}")
endif()

add_executable(consumer "${CMAKE_CURRENT_LIST_DIR}/consumer_main.cpp")
if(TARGET apgen::openmp)
  target_link_libraries(consumer PRIVATE apgen::openmp)
else()
  target_link_libraries(consumer PRIVATE apgen::apgen)
endif()
target_compile_definitions(consumer PRIVATE
  "APGEN_CONSUMER_EXPECTED_VERSION=\"${APGEN_EXPECTED_VERSION}\""
  "APGEN_CONSUMER_UMBRELLA=$<BOOL:${APGEN_EXPECT_UMBRELLA}>")
