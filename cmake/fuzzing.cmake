# libFuzzer targets (tests/fuzz): every onemap library and program is built with coverage
# instrumentation for libFuzzer plus AddressSanitizer and UBSan; each fuzz target links
# libFuzzer's main, the rest (servers, tests) only the sanitizer runtimes, so the test suite runs
# sanitized in the same tree. Needs clang (Debian: clang-14, libfuzzer-14-dev);
# scripts/configure-sanitized.sh configures it.
if(ONEMAP_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "ONEMAP_FUZZ needs clang (libFuzzer): configure with CXX=clang++-14")
  endif()
  if(ONEMAP_SANITIZE)
    message(FATAL_ERROR "ONEMAP_FUZZ brings its own sanitizers (address,undefined); leave ONEMAP_SANITIZE empty")
  endif()
  message(STATUS "onemap: libFuzzer targets, libraries built with -fsanitize=fuzzer-no-link,address,undefined")
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  # Executables other than the fuzz targets (onemap-server, onemap-import, tests) link the
  # sanitizer runtimes; the fuzz targets add libFuzzer (tests/fuzz/CMakeLists.txt).
  add_link_options(-fsanitize=address,undefined)
endif()
