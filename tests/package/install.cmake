# ctest "package.install": install the configured apgen build tree BUILD_DIR into a fresh PREFIX.
#   cmake -DBUILD_DIR=<dir> -DPREFIX=<dir> -DCMAKEDIR=<config dir relative to PREFIX> [-DCONFIG=<cfg>] -P install.cmake
foreach(_var BUILD_DIR PREFIX CMAKEDIR)
  if(NOT DEFINED ${_var})
    message(FATAL_ERROR "install.cmake: -D${_var}=... is required")
  endif()
endforeach()
file(REMOVE_RECURSE "${PREFIX}")
set(_config_args "")
if(CONFIG)
  set(_config_args --config "${CONFIG}")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}" ${_config_args}
                RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${_rc})")
endif()
foreach(_file include/apgen/version.hpp ${CMAKEDIR}/apgenConfig.cmake ${CMAKEDIR}/apgenConfigVersion.cmake
              ${CMAKEDIR}/apgenTargets.cmake)
  if(NOT EXISTS "${PREFIX}/${_file}")
    message(FATAL_ERROR "install.cmake: ${PREFIX}/${_file} was not installed")
  endif()
endforeach()
