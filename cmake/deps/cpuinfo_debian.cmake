# Run right after XNNPACK's project() (CMAKE_PROJECT_XNNPACK_INCLUDE) for the native build.
# Debian bookworm's libcpuinfo-dev ships a broken CMake package file, so define the `cpuinfo` target
# XNNPACK links to from the library and header directly.
find_library(DIGITLAB_CPUINFO_LIBRARY NAMES cpuinfo REQUIRED)
find_path(DIGITLAB_CPUINFO_INCLUDE cpuinfo.h REQUIRED)
add_library(cpuinfo SHARED IMPORTED GLOBAL)
set_target_properties(cpuinfo PROPERTIES IMPORTED_LOCATION "${DIGITLAB_CPUINFO_LIBRARY}"
                                         INTERFACE_INCLUDE_DIRECTORIES "${DIGITLAB_CPUINFO_INCLUDE}")
