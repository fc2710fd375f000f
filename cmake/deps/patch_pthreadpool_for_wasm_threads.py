#!/usr/bin/env python3
"""Let pthreadpool (git 4cc3cbd) build its real thread pool for a -pthread Emscripten build.

Its CMake file compiles the single-threaded shim (src/shim.c) for every Emscripten build, threads or
not, although src/pthreads.c already waits and wakes through Emscripten's futexes. These edits,
applied to a copy of the unpacked sources, keep the shim only where the C flags lack -pthread, and
let src/memory.c see posix_memalign under strict C11 (emcc makes the implicit declaration an error;
glibc builds only warn). Each edit must match exactly once, so a different pthreadpool version fails
loudly here, not later.
"""
import pathlib
import sys

from source_edit import checked_edit

root = pathlib.Path(sys.argv[1])


def edit(relpath, old, new):
    checked_edit(root, relpath, old, new, who="patch_pthreadpool_for_wasm_threads")


edit("CMakeLists.txt", "IF(EMSCRIPTEN)\n  LIST(APPEND PTHREADPOOL_SRCS src/shim.c)",
     'IF(EMSCRIPTEN AND NOT CMAKE_C_FLAGS MATCHES "-pthread")\n  LIST(APPEND PTHREADPOOL_SRCS src/shim.c)')
edit("src/memory.c", "/* Standard C headers */\n#include <assert.h>",
     "#if defined(__EMSCRIPTEN__) && !defined(_POSIX_C_SOURCE)\n#define _POSIX_C_SOURCE 200112L\n#endif\n"
     "/* Standard C headers */\n#include <assert.h>")
print("patched", root)
