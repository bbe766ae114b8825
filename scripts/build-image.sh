#!/usr/bin/env bash
# Builds lagscale's container image without a registry: the Dockerfile's runtime stage, built
# by buildah FROM scratch, with the root filesystem made on the host by
# scripts/image-rootfs.sh from the release binary (`cargo build --release`, run here; a no-op
# when it is up to date) handed to buildah in place of the Dockerfile's build stage
# (`--build-context build=DIR`). Entrypoint, user, ports, labels and layout are therefore the
# Dockerfile's; only the toolchain that made the binary differs (the host's, not rust:1-bookworm).
#
#   bash scripts/build-image.sh
#
# Installs buildah, podman, runc and skopeo when missing (scripts/ensure-containers.sh). Leaves
# the image in this checkout's container storage (target/containers/) as localhost/lagscale:VERSION
# and writes it as an OCI archive, target/image/lagscale-VERSION.oci.tar, which
#   skopeo copy oci-archive:target/image/lagscale-VERSION.oci.tar docker://REGISTRY/lagscale:VERSION
# pushes. Progress and the image's size go to stderr; stdout gets the shell assignments that
# point podman at the image, to eval before running the image tests by hand:
#   export CONTAINERS_CONF=... CONTAINERS_STORAGE_CONF=... LAGSCALE_IMAGE=localhost/lagscale:VERSION \
#     LAGSCALE_IMAGE_ARCHIVE=/.../target/image/lagscale-VERSION.oci.tar
# (tests/e2e/image.rs runs the image; tests/e2e/dockerfile.rs compares the archive with the
# Dockerfile).
set -euo pipefail
cd "$(dirname "$0")/.."

containers_env="$(bash scripts/ensure-containers.sh)"
eval "$containers_env"

target="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked --quiet --bin lagscale
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
revision="$(git rev-parse HEAD 2>/dev/null || true)"
# The repository the image was built from (the `origin` remote): a URL without any user or
# token in it; `user@host:path` as https://host/path; empty for a local path.
origin="$(git remote get-url origin 2>/dev/null || true)"
case "$origin" in
  http://* | https://* | ssh://* | git://*) source_url="$(sed -E 's#^([a-z]+://)[^@/]*@#\1#' <<<"$origin")" ;;
  *@*:*) source_url="https://$(sed -E 's#^[^@]*@([^:]*):#\1/#' <<<"$origin")" ;;
  *) source_url="" ;;
esac
image="localhost/lagscale:$version"
out="$target/image"
archive="$out/lagscale-$version.oci.tar"

start=$SECONDS
rm -rf "$out/context"
mkdir -p "$out/context"
bash scripts/image-rootfs.sh "$out/context/rootfs" "$target/release/lagscale"
# The context directory holds only the Containerfile's input: nothing of the checkout is sent.
buildah bud --quiet --layers=false --identity-label=false --target runtime \
  --build-context build="$out/context" \
  --build-arg SOURCE="$source_url" --build-arg VERSION="$version" --build-arg REVISION="$revision" \
  --file Dockerfile --tag "$image" "$out/context" >/dev/null
rm -f "$archive"
buildah push --quiet "$image" "oci-archive:$archive:lagscale:$version" >/dev/null
size="$(podman image inspect --format '{{.Size}}' "$image")"
echo "image: $image built in $((SECONDS - start)) s: $((size / 1024 / 1024)) MiB ($size bytes) unpacked, archive $archive $(du -h "$archive" | cut -f1)" >&2
printf '%s LAGSCALE_IMAGE=%q LAGSCALE_IMAGE_ARCHIVE=%q\n' "$containers_env" "$image" \
  "$(cd "$out" && pwd)/lagscale-$version.oci.tar"
