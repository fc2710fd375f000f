# Third-party pieces, found the same way for every build:
#  - nlohmann-json and stb: Debian header-only packages (work unchanged with emcc);
#  - zlib: Debian's library natively; for wasm, compiled from Debian's verified source tarball,
#    because Emscripten's zlib port would download at build time;
#  - XNNPACK and Dear ImGui: pinned Debian source tarballs, built once into the user cache by
#    cmake/deps/*.sh (see that folder's README).
set(DIGITLAB_DEPS_DIR "${CMAKE_CURRENT_LIST_DIR}/deps")

function(digitlab_run_dep_script out_var)
  execute_process(COMMAND bash ${ARGN} OUTPUT_VARIABLE path RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0 OR NOT IS_DIRECTORY "${path}")
    message(FATAL_ERROR "dependency step failed: ${ARGN}")
  endif()
  set(${out_var} "${path}" PARENT_SCOPE)
endfunction()

find_path(DIGITLAB_JSON_INCLUDE nlohmann/json.hpp PATHS /usr/include NO_CMAKE_FIND_ROOT_PATH)
if(NOT DIGITLAB_JSON_INCLUDE)
  message(FATAL_ERROR "nlohmann/json.hpp not found: install nlohmann-json3-dev (./run setup does)")
endif()
add_library(digitlab_json INTERFACE)
# Only this one directory of /usr/include is exposed to emcc, so no host system header leaks in.
if(EMSCRIPTEN)
  file(MAKE_DIRECTORY "${CMAKE_BINARY_DIR}/third_party/include")
  file(COPY "${DIGITLAB_JSON_INCLUDE}/nlohmann" DESTINATION "${CMAKE_BINARY_DIR}/third_party/include")
  target_include_directories(digitlab_json SYSTEM INTERFACE "${CMAKE_BINARY_DIR}/third_party/include")
else()
  target_include_directories(digitlab_json SYSTEM INTERFACE "${DIGITLAB_JSON_INCLUDE}")
endif()

if(EMSCRIPTEN)
  digitlab_run_dep_script(DIGITLAB_ZLIB_SRC "${DIGITLAB_DEPS_DIR}/fetch.sh" zlib)
  set(zlib_sources adler32.c compress.c crc32.c deflate.c gzclose.c gzlib.c gzread.c gzwrite.c infback.c
      inffast.c inflate.c inftrees.c trees.c uncompr.c zutil.c)
  list(TRANSFORM zlib_sources PREPEND "${DIGITLAB_ZLIB_SRC}/")
  add_library(digitlab_zlib STATIC ${zlib_sources})
  target_include_directories(digitlab_zlib SYSTEM PUBLIC "${DIGITLAB_ZLIB_SRC}")
  target_compile_definitions(digitlab_zlib PRIVATE HAVE_UNISTD_H)
  target_compile_options(digitlab_zlib PRIVATE -w)
  add_library(ZLIB::ZLIB ALIAS digitlab_zlib)
else()
  find_package(ZLIB REQUIRED)
endif()

if(DIGITLAB_XNNPACK)
  if(EMSCRIPTEN AND DIGITLAB_WASM_THREADS)
    set(_xnn_target wasm-threads)
  elseif(EMSCRIPTEN)
    set(_xnn_target wasm)
  else()
    set(_xnn_target native)
  endif()
  if(NOT DIGITLAB_XNNPACK_PREFIX)
    message(STATUS "XNNPACK: asking cmake/deps/build_xnnpack.sh ${_xnn_target} (cached after the first build)")
    digitlab_run_dep_script(DIGITLAB_XNNPACK_PREFIX "${DIGITLAB_DEPS_DIR}/build_xnnpack.sh" ${_xnn_target})
  endif()
  message(STATUS "XNNPACK: ${DIGITLAB_XNNPACK_PREFIX}")
  add_library(digitlab_xnnpack INTERFACE)
  target_include_directories(digitlab_xnnpack SYSTEM INTERFACE "${DIGITLAB_XNNPACK_PREFIX}/include")
  target_link_libraries(digitlab_xnnpack INTERFACE
    "${DIGITLAB_XNNPACK_PREFIX}/lib/libXNNPACK.a"
    "${DIGITLAB_XNNPACK_PREFIX}/lib/libmicrokernels-prod.a"
    "${DIGITLAB_XNNPACK_PREFIX}/lib/libpthreadpool.a")
  if(NOT EMSCRIPTEN)
    find_library(DIGITLAB_CPUINFO_LIBRARY cpuinfo REQUIRED)
    find_package(Threads REQUIRED)
    target_link_libraries(digitlab_xnnpack INTERFACE "${DIGITLAB_CPUINFO_LIBRARY}" Threads::Threads m)
  endif()
endif()

if(EMSCRIPTEN)
  # -msimd128 everywhere: the engine's own loops and XNNPACK's kernels use wasm SIMD.
  add_compile_options(-msimd128)
  # Errors are C++ exceptions (bad weight files, datasets); Emscripten disables catching by default.
  # Native wasm exception handling costs nothing until something throws (Chrome 95+, Firefox 100+,
  # Safari 15.2+, node 17+).
  if(DIGITLAB_WASM_THREADS)
    # Shared memory needs every object built with atomics and bulk memory: -pthread everywhere.
    # Debian's emcc 3.1.6 with -pthread and -fwasm-exceptions catches nothing by type (`throw 5`
    # misses `catch (int)`; checked 2026-12-02), so this build uses Emscripten's JavaScript-based
    # exception handling, which does.
    add_compile_options(-pthread -fexceptions)
    add_link_options(-pthread -fexceptions)
  else()
    add_compile_options(-fwasm-exceptions)
    add_link_options(-fwasm-exceptions)
  endif()
  # Debian's emcc runs its JS optimizer with the machine's node, which (when it is not Debian's own)
  # does not look in /usr/share/nodejs for acorn: point it there for every link, whatever the
  # environment of the configure or build step.
  if(EXISTS /usr/share/nodejs/acorn)
    set(CMAKE_CXX_LINKER_LAUNCHER ${CMAKE_COMMAND} -E env NODE_PATH=/usr/share/nodejs)
    set(CMAKE_C_LINKER_LAUNCHER ${CMAKE_COMMAND} -E env NODE_PATH=/usr/share/nodejs)
  endif()
endif()
