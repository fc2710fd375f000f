#!/usr/bin/env bash
# Usage: build_xnnpack.sh native|wasm|wasm-threads  -> prints a prefix holding include/ and lib/ of a
# static XNNPACK (+ pthreadpool) for that target. `wasm` is single-threaded (pthreadpool's shim runs
# every task on the caller); `wasm-threads` is built with -pthread and pthreadpool's real pool (its
# CMake file patched by patch_pthreadpool_for_wasm_threads.py), for the threaded worker module.
# Built once per (sources, compiler, flags, this recipe) into the cache; later calls print the cached
# prefix at once. The key hashes everything that changes the binaries.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/common.sh"

target="${1:?usage: build_xnnpack.sh native|wasm|wasm-threads}"
xnnpack_src="$("$here/fetch.sh" xnnpack)"
pthreadpool_src="$("$here/fetch.sh" pthreadpool)"
fxdiv_src="$("$here/fetch.sh" fxdiv)"

common_flags=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DXNNPACK_LIBRARY_TYPE=static
  -DXNNPACK_BUILD_TESTS=OFF -DXNNPACK_BUILD_BENCHMARKS=OFF -DXNNPACK_BUILD_ALL_MICROKERNELS=OFF
  -DXNNPACK_ENABLE_KLEIDIAI=OFF -DXNNPACK_ENABLE_ASSEMBLY=OFF
  "-DPTHREADPOOL_SOURCE_DIR=$pthreadpool_src" "-DFXDIV_SOURCE_DIR=$fxdiv_src")
case "$target" in
  native)
    compiler_id="$(c++ --version | head -1)"
    target_flags=(-DCMAKE_POSITION_INDEPENDENT_CODE=ON "-DCMAKE_PROJECT_XNNPACK_INCLUDE=$here/cpuinfo_debian.cmake"
      -DCPUINFO_SOURCE_DIR=/usr -DXNNPACK_ENABLE_AVX512AMX=OFF -DXNNPACK_ENABLE_AVX512FP16=OFF
      -DXNNPACK_ENABLE_AVXVNNI=OFF -DXNNPACK_ENABLE_AVXVNNIINT8=OFF -DXNNPACK_ENABLE_AVX256SKX=OFF
      -DXNNPACK_ENABLE_AVX256VNNI=OFF -DXNNPACK_ENABLE_AVX256VNNIGFNI=OFF -DXNNPACK_ENABLE_AVX512VNNIGFNI=OFF)
    configure=(cmake) ;;
  wasm)
    command -v emcc >/dev/null || die "emcc not found (run ./run setup)"
    compiler_id="$(emcc --version 2>/dev/null | head -1)"
    target_flags=("-DCMAKE_C_FLAGS=-msimd128" "-DCMAKE_CXX_FLAGS=-msimd128" -DCPUINFO_SOURCE_DIR=/nonexistent)
    configure=(emcmake cmake) ;;
  wasm-threads)
    command -v emcc >/dev/null || die "emcc not found (run ./run setup)"
    compiler_id="$(emcc --version 2>/dev/null | head -1)"
    # Every object of a -pthread link needs the atomics and bulk-memory features: all of it is -pthread.
    target_flags=("-DCMAKE_C_FLAGS=-msimd128 -pthread" "-DCMAKE_CXX_FLAGS=-msimd128 -pthread"
      -DCPUINFO_SOURCE_DIR=/nonexistent)
    configure=(emcmake cmake) ;;
  *) die "unknown target '$target' (native, wasm or wasm-threads)" ;;
esac

# The key holds contents, not locations: the same recipe in another clone or cache reuses the build.
key="$( { echo "$compiler_id ${common_flags[*]} ${target_flags[*]}" | sed -e "s|$here|DEPS|g" -e "s|$DIGITLAB_CACHE|CACHE|g";
          cat "$0" "$here/source_edit.py" "$here/patch_xnnpack_for_wasm.py" "$here/patch_pthreadpool_for_wasm_threads.py" "$here/cpuinfo_debian.cmake"; } | sha256sum | cut -c1-16)"
prefix="$DIGITLAB_CACHE/xnnpack/$target-$key"

build() {
  [[ -f "$prefix/.digitlab-complete" ]] && return 0
  local start=$SECONDS src="$DIGITLAB_CACHE/build/xnnpack-$target-$key-src" bld="$DIGITLAB_CACHE/build/xnnpack-$target-$key"
  log "building XNNPACK for $target (once per toolchain; a few minutes on 2 cores) -> $prefix"
  rm -rf "$src" "$bld" "$prefix"
  mkdir -p "$(dirname "$bld")"
  cp -r "$xnnpack_src" "$src"
  [[ "$target" == wasm* ]] && python3 -B "$here/patch_xnnpack_for_wasm.py" "$src" >&2
  local pool_flags=()
  if [[ "$target" == wasm-threads ]]; then  # a patched copy of pthreadpool, next to XNNPACK's
    rm -rf "$src-pthreadpool"
    cp -r "$pthreadpool_src" "$src-pthreadpool"
    python3 -B "$here/patch_pthreadpool_for_wasm_threads.py" "$src-pthreadpool" >&2
    pool_flags=("-DPTHREADPOOL_SOURCE_DIR=$src-pthreadpool")
  fi
  "${configure[@]}" -S "$src" -B "$bld" "${common_flags[@]}" "${target_flags[@]}" "${pool_flags[@]}" >"$bld.configure.log" 2>&1 ||
    { tail -30 "$bld.configure.log" >&2; die "XNNPACK configure failed (log: $bld.configure.log)"; }
  cmake --build "$bld" --target XNNPACK microkernels-prod pthreadpool -j "$(nproc)" >"$bld.build.log" 2>&1 ||
    { tail -30 "$bld.build.log" >&2; die "XNNPACK build failed (log: $bld.build.log)"; }
  mkdir -p "$prefix/include" "$prefix/lib"
  cp "$src/include/xnnpack.h" "$src/include/experiments-config.h" "$prefix/include/" 2>/dev/null ||
    cp "$src/include/xnnpack.h" "$prefix/include/"
  cp "$pthreadpool_src/include/pthreadpool.h" "$prefix/include/"
  find "$bld" \( -name libXNNPACK.a -o -name libmicrokernels-prod.a -o -name libpthreadpool.a \) -exec cp {} "$prefix/lib/" \;
  for lib in libXNNPACK.a libmicrokernels-prod.a libpthreadpool.a; do
    [[ -f "$prefix/lib/$lib" ]] || die "XNNPACK build did not produce $lib"
  done
  echo "$target built in $((SECONDS - start)) s from $xnnpack_src" >"$prefix/BUILD-INFO"
  rm -rf "$src" "$src-pthreadpool" "$bld"
  touch "$prefix/.digitlab-complete"
  log "XNNPACK for $target built in $((SECONDS - start)) s"
}

with_lock "$DIGITLAB_CACHE/locks/xnnpack-$target.lock" build
echo "$prefix"
