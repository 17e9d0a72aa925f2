# Runs one fuzzer for a bounded time on a scratch copy of its seed corpus (the committed seeds never change), as
#   cmake -DFUZZER=<binary> -DSEEDS=<dir> -DDICT=<file> -DWORK=<dir> -DSECONDS=<n> -P run_bounded.cmake
# and fails when libFuzzer reports a finding (crash, sanitizer report, leak, timeout, out of memory).
foreach(_var IN ITEMS FUZZER SEEDS DICT WORK SECONDS)
  if(NOT DEFINED ${_var})
    message(FATAL_ERROR "run_bounded.cmake: -D${_var}=... is required")
  endif()
endforeach()

file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}/corpus" "${WORK}/artifacts")
file(GLOB _seeds "${SEEDS}/*")
file(COPY ${_seeds} DESTINATION "${WORK}/corpus")

# -timeout: one input taking over 10 s is a finding (a hang). -print_final_stats: execs and coverage in the log.
# libFuzzer's progress lines go to a log file; its tail (the final stats) is printed.
set(_log "${WORK}/fuzz.log")
execute_process(
  COMMAND "${FUZZER}" "${WORK}/corpus" "-dict=${DICT}" "-max_total_time=${SECONDS}" -rss_limit_mb=2048 -timeout=10
          "-artifact_prefix=${WORK}/artifacts/" -print_final_stats=1
  RESULT_VARIABLE _rc
  OUTPUT_FILE "${_log}"
  ERROR_FILE "${_log}")
# Not file(STRINGS): libFuzzer's lines hold unbalanced '[' that would garble a CMake list.
file(READ "${_log}" _text)
if(NOT _rc EQUAL 0)
  string(LENGTH "${_text}" _length)
  if(_length GREATER 12000)
    math(EXPR _from "${_length} - 12000")
    string(SUBSTRING "${_text}" ${_from} -1 _text)
  endif()
  message("${_text}")
else()
  # The summary: seed corpus, the final coverage line and libFuzzer's stats.
  string(REGEX MATCHALL "(INFO: seed corpus[^\n]*|#[0-9]+\tDONE[^\n]*|stat::[^\n]*)" _summary "${_text}")
  string(REPLACE ";" "\n" _summary "${_summary}")
  message("${_summary}")
endif()
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "fuzzer finding (exit ${_rc}): the input is in ${WORK}/artifacts/, the full log in ${_log}; "
                      "reproduce with: ${FUZZER} <that file>")
endif()
message(STATUS "fuzzing ran ${SECONDS} s without a finding (full log: ${_log})")
