#!/usr/bin/env bash
# Prints the absolute path of a tansu binary (crates.io `tansu`, an independent Kafka-compatible
# broker written in Rust) for the tests against it (tests/e2e/tansu.rs, harness in
# tests/e2e/support/tansu.rs): `tansu` on PATH if its broker takes the flags the harness passes
# and has the SQLite storage engine, else tansu $version built once into a cache outside the
# checkout (~/.cache/lagscale/tools/tansu-VERSION, or $LAGSCALE_TOOLS)
# with `cargo install` (≈ 40 min of CPU: 20–35 min on 2 cores; the build directory is removed
# afterwards, the binary is ≈ 60 MB). Progress goes to stderr. Exits non-zero, saying why, when
# no usable tansu can be found or built.
#
# Features: `libsql` gives the SQLite engine (sqlite://FILE, relative to the broker's working
# directory), which keeps topics, records and committed offsets across a restart: the harness
# uses it. `dynostore` gives the in-memory engine (memory://), handy by hand; it loses
# everything on a restart and miscounts batches of several records (high watermark).
set -euo pipefail
cd "$(dirname "$0")/.."

version=0.6.0
features=dynostore,libsql

# The harness's flags are in `tansu broker --help`, and the SQLite engine answers: a build
# without it exits at once ("FeatureNotEnabled"), a build with it keeps running until killed.
usable() {
  local help dir status=0
  help="$("$1" broker --help 2>/dev/null)" || return 1
  for flag in --listener-url --advertised-listener-url --storage-engine --silent; do
    grep -q -- "$flag" <<<"$help" || return 1
  done
  dir="$(mktemp -d)"
  (cd "$dir" && timeout 1 "$1" broker --listener-url tcp://127.0.0.1:0 \
    --advertised-listener-url tcp://127.0.0.1:0 --storage-engine sqlite://probe.db --silent \
    >/dev/null 2>&1) || status=$?
  rm -rf "$dir"
  [ "$status" = 124 ]
}

if command -v tansu >/dev/null; then
  if usable "$(command -v tansu)"; then
    command -v tansu
    exit 0
  fi
  echo "tansu: $(command -v tansu) lacks the harness's flags or the SQLite engine (feature libsql); using tansu $version from the tools cache" >&2
fi

# Kept outside the checkout, unlike helm: it takes 20-35 minutes to build, and every fresh
# clone (CI's included) on this machine reuses it. LAGSCALE_TOOLS moves the cache.
tools="${LAGSCALE_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/lagscale/tools}/tansu-$version"
if [ "$("$tools/bin/tansu" --version 2>/dev/null)" != "tansu $version" ]; then
  echo "tansu: building tansu $version (features $features) into $tools; 20–35 min on 2 cores" >&2
  mkdir -p "$tools"
  build="$tools/build"
  start=$SECONDS
  if ! CARGO_TARGET_DIR="$build" cargo install tansu --locked --quiet --force \
      --features "$features" --version "$version" --root "$tools" >&2; then
    rm -rf "$build"
    echo "tansu: cargo install tansu@$version failed (see above); the tansu tests cannot run" >&2
    exit 1
  fi
  rm -rf "$build"
  echo "tansu: built in $((SECONDS - start)) s, $(du -h "$tools/bin/tansu" | cut -f1)" >&2
fi
echo "$tools/bin/tansu"
