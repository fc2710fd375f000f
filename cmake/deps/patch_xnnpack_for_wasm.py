#!/usr/bin/env python3
"""Teach XNNPACK's CMake build (git 4ea82e5) to target Emscripten with wasm SIMD.

Upstream builds wasm only through Bazel. These edits, applied to a copy of the unpacked sources,
let `emcmake cmake` build it: accept the Emscripten system name, call the target processor "wasm",
build without cpuinfo (as upstream does for Hexagon), add the wasm and wasm-SIMD production kernels,
and fix two wasm kernels that include <arm_neon.h> although they only use wasm intrinsics.
Each edit must match exactly once, so a different XNNPACK version fails loudly here, not later.
"""
import pathlib
import sys

from source_edit import checked_edit

root = pathlib.Path(sys.argv[1])


def edit(relpath, old, new):
    checked_edit(root, relpath, old, new, who="patch_xnnpack_for_wasm")


cml = "CMakeLists.txt"
edit(cml, '"^(Android|Darwin|iOS|Linux|Windows|CYGWIN|MSYS|QURT)$"',
     '"^(Android|Darwin|iOS|Linux|Windows|CYGWIN|MSYS|QURT|Emscripten)$"')
edit(cml, 'MESSAGE(STATUS "Building for XNNPACK_TARGET_PROCESSOR: ${XNNPACK_TARGET_PROCESSOR}")',
     'IF(CMAKE_SYSTEM_NAME STREQUAL "Emscripten")\n  SET(XNNPACK_TARGET_PROCESSOR "wasm")\nENDIF()\n'
     'MESSAGE(STATUS "Building for XNNPACK_TARGET_PROCESSOR: ${XNNPACK_TARGET_PROCESSOR}")')
edit(cml, 'IF(XNNPACK_TARGET_PROCESSOR MATCHES "Hexagon")\n  ADD_COMPILE_DEFINITIONS("XNN_ENABLE_CPUINFO=0")',
     'IF(XNNPACK_TARGET_PROCESSOR MATCHES "^(Hexagon|wasm)$")\n  ADD_COMPILE_DEFINITIONS("XNN_ENABLE_CPUINFO=0")')
edit(cml, "# ---[ Configure cpuinfo\nIF(NOT TARGET cpuinfo)",
     "# ---[ Configure cpuinfo\nIF(XNNPACK_TARGET_PROCESSOR STREQUAL \"wasm\" AND NOT TARGET cpuinfo)\n"
     "  ADD_LIBRARY(cpuinfo INTERFACE)\nENDIF()\nIF(NOT TARGET cpuinfo)")
edit(cml, "SET(ALL_MICROKERNEL_SRCS ${PROD_MICROKERNEL_SRCS} ${NON_PROD_MICROKERNEL_SRCS})",
     'IF(XNNPACK_TARGET_PROCESSOR STREQUAL "wasm")\n'
     "  LIST(APPEND PROD_MICROKERNEL_SRCS ${PROD_WASM_MICROKERNEL_SRCS})\n"
     '  IF(CMAKE_C_FLAGS MATCHES "-msimd128")\n'
     "    LIST(APPEND PROD_MICROKERNEL_SRCS ${PROD_WASMSIMD_MICROKERNEL_SRCS})\n"
     "  ENDIF()\n"
     "ENDIF()\n"
     "SET(ALL_MICROKERNEL_SRCS ${PROD_MICROKERNEL_SRCS} ${NON_PROD_MICROKERNEL_SRCS})")
for kernel in ("src/f32-qs8-vcvt/gen/f32-qs8-vcvt-wasmsimd-magic-u32.c",
               "src/f32-qu8-vcvt/gen/f32-qu8-vcvt-wasmsimd-magic-u32.c"):
    edit(kernel, "#include <arm_neon.h>", "#include <wasm_simd128.h>")
print("patched", root)
