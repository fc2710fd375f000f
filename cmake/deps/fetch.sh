#!/usr/bin/env bash
# Usage: fetch.sh NAME   -> prints the directory holding the verified, unpacked sources of NAME.
# Idempotent: a verified unpack is reused; nothing is downloaded twice.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/common.sh"
source "$here/sources.sh"

name="${1:?usage: fetch.sh NAME}"
entry=""
for e in "${DIGITLAB_DEPS[@]}"; do [[ "${e%%|*}" == "$name" ]] && entry="$e"; done
[[ -n "$entry" ]] || die "unknown dependency '$name'"
IFS='|' read -r _ suite srcpkg tarball sha256 git_url git_rev <<<"$entry"

dest="$DIGITLAB_CACHE/src/$name-${sha256:0:16}"
downloads="$DIGITLAB_CACHE/downloads"

fetch_from_debian() {
  local apt_dir="$DIGITLAB_CACHE/apt"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$downloads"
  # A private deb-src list, so /etc/apt stays untouched and no root is needed.
  cat >"$apt_dir/digitlab-src.sources" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  local opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt_dir"
              -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
  if [[ -z "$(find "$apt_dir/lists" -name '*Sources*' -mmin -1440 2>/dev/null | head -1)" ]]; then
    log "updating Debian source index (trixie, bookworm)"
    apt-get "${opts[@]}" update -qq >&2 || log "apt-get update reported errors"
  fi
  log "downloading $tarball from Debian ($suite)"
  # Some mirrors answer 404 for the .dsc/.debian.tar.xz while the orig tarball arrives: judge the
  # result by the verified tarball, not by apt's exit code.
  (cd "$downloads" && apt-get "${opts[@]}" source --download-only "$srcpkg" >/dev/null 2>&1) || true
}

fetch_from_upstream() {
  command -v git >/dev/null || return 1
  local tmp="$DIGITLAB_CACHE/tmp/$name-git"
  rm -rf "$tmp"
  log "Debian archive unavailable; cloning $git_url at $git_rev"
  git clone --quiet "$git_url" "$tmp" >&2 || return 1
  git -C "$tmp" -c advice.detachedHead=false checkout --quiet "$git_rev" >&2 || return 1
  if [[ "$git_rev" =~ ^[0-9a-f]{40}$ ]]; then
    [[ "$(git -C "$tmp" rev-parse HEAD)" == "$git_rev" ]] || die "upstream checkout of $name is not at commit $git_rev"
  else
    # Pinned by tag: check the files we compile against the SHA-256s taken from the verified Debian
    # tarball (NAME.files.sha256), since a tag can move.
    [[ -f "$here/$name.files.sha256" ]] || die "$name is pinned by tag but has no $name.files.sha256 to verify it"
    (cd "$tmp" && sha256sum --quiet -c "$here/$name.files.sha256" >&2) || die "upstream $name at $git_rev differs from the pinned files"
  fi
  rm -rf "$tmp/.git"
  mv "$tmp" "$dest.partial"
}

unpack() {
  rm -rf "$dest.partial"
  mkdir -p "$dest.partial"
  tar -xf "$downloads/$tarball" -C "$dest.partial"
  # Most tarballs hold one top-level folder; xnnpack's holds none. Flatten to one layout.
  local entries=("$dest.partial"/*)
  if [[ ${#entries[@]} -eq 1 && -d "${entries[0]}" ]]; then
    mv "${entries[0]}" "$dest.inner" && rm -rf "$dest.partial" && mv "$dest.inner" "$dest.partial"
  fi
}

obtain() {
  [[ -f "$dest/.digitlab-verified" ]] && return 0
  if [[ ! -f "$downloads/$tarball" || "$(sha256_of "$downloads/$tarball")" != "$sha256" ]]; then
    rm -f "$downloads/$tarball"
    fetch_from_debian
  fi
  if [[ -f "$downloads/$tarball" ]]; then
    local got; got="$(sha256_of "$downloads/$tarball")"
    [[ "$got" == "$sha256" ]] || { rm -f "$downloads/$tarball"; die "$tarball has sha256 $got, expected $sha256"; }
    log "verified $tarball (sha256 ${sha256:0:16}...)"
    unpack
  else
    fetch_from_upstream || die "could not obtain $name: neither Debian's archive nor $git_url is reachable"
  fi
  touch "$dest.partial/.digitlab-verified"
  rm -rf "$dest" && mv "$dest.partial" "$dest"
}

with_lock "$DIGITLAB_CACHE/locks/src-$name.lock" obtain
echo "$dest"
