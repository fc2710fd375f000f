# Shared helpers for the dependency scripts: the cache location and logging to stderr (stdout of
# these scripts carries only the resulting path, so CMake can read it).
DIGITLAB_CACHE="${DIGITLAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/digitlab}"
log() { printf '[deps] %s\n' "$*" >&2; }
die() { printf '[deps] error: %s\n' "$*" >&2; exit 1; }
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
# Run "$@" holding an exclusive lock on $1, so two builds never fill one cache entry at once.
with_lock() { local lock="$1"; shift; mkdir -p "$(dirname "$lock")"; ( flock 9; "$@" ) 9>"$lock"; }
export NODE_PATH="${NODE_PATH:-/usr/share/nodejs}"  # Debian emcc needs acorn from there under Node 20
