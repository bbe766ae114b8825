#!/usr/bin/env bash
# Makes buildah, podman, runc and skopeo usable for the image (scripts/build-image.sh) and its
# smoke test (tests/e2e/image.rs), then prints the two variables that point them at this
# checkout's configuration, as shell assignments to `eval`:
#
#   eval "$(bash scripts/ensure-containers.sh)"
#
# Installs Debian's buildah, podman, runc and skopeo when one is missing (as root, or with
# passwordless sudo, as ensure-rabbitmq.sh does). Writes, under target/containers/:
#   - containers.conf: runc with cgroupfs (crun fails on this kind of machine's hybrid cgroup
#     layout: "cgroups in hybrid mode not supported"), and ulimits under the hard limits
#     (podman's defaults ask for more and fail with "setrlimit ... Operation not permitted");
#   - storage.conf: vfs storage under target/containers/, so images and containers of this
#     checkout stay in it and `cargo clean` removes them.
# Exits non-zero, saying why on stderr, when the tools cannot be had or podman does not work;
# the test command then skips the image tests with one line.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"
  else return 1
  fi
}

missing=()
for tool in buildah podman runc skopeo; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "containers: installing Debian's ${missing[*]}" >&2
  if ! command -v apt-get >/dev/null; then
    echo "containers: ${missing[*]} missing and no apt-get to install them" >&2
    exit 1
  fi
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 &&
     ! { as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 &&
         as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; }; then
    echo "containers: could not install ${missing[*]} (needs root or passwordless sudo)" >&2
    exit 1
  fi
fi

dir="$PWD/${CARGO_TARGET_DIR:-target}/containers"
mkdir -p "$dir"
cat >"$dir/containers.conf" <<'EOF'
# Written by scripts/ensure-containers.sh.
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
cat >"$dir/storage.conf" <<EOF
# Written by scripts/ensure-containers.sh.
[storage]
driver = "vfs"
graphroot = "$dir/storage"
runroot = "$dir/run"
EOF
export CONTAINERS_CONF="$dir/containers.conf" CONTAINERS_STORAGE_CONF="$dir/storage.conf"

if ! info="$(podman info --format '{{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}}' 2>&1)"; then
  echo "containers: podman does not work here: $info" >&2
  exit 1
fi
echo "containers: podman $(podman version --format '{{.Client.Version}}') ($info), buildah $(buildah --version | cut -d' ' -f3), storage in $dir" >&2
printf 'export CONTAINERS_CONF=%q CONTAINERS_STORAGE_CONF=%q\n' "$CONTAINERS_CONF" "$CONTAINERS_STORAGE_CONF"
