#!/usr/bin/env bash
# Makes the root filesystem of a lagscale container image in DEST (a new directory):
#   - each BINARY, in /usr/local/bin;
#   - exactly the shared objects `ldd` lists for them, each at the path ldd names (the
#     loader included), with the content of the file that path resolves to;
#   - the CA certificates, /etc/ssl/certs/ca-certificates.crt (Debian's ca-certificates):
#     rustls (brokers, the Kubernetes API) and librdkafka need roots for TLS;
#   - /etc/passwd and /etc/group with root and the non-root user `nonroot`, 65532 (the user
#     distroless images use, which the chart runs as).
# Nothing else: no shell, no package manager. Both ways of building the image use it, so their
# layouts are one: the Dockerfile's build stage, and scripts/build-image.sh on the host.
#
#   bash scripts/image-rootfs.sh DEST BINARY...
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: image-rootfs.sh DEST BINARY..." >&2
  exit 2
fi
dest=$1
shift
if [ -e "$dest" ]; then
  echo "image-rootfs: $dest exists; give a directory that does not" >&2
  exit 1
fi
ca=/etc/ssl/certs/ca-certificates.crt
if [ ! -s "$ca" ]; then
  echo "image-rootfs: no CA certificates at $ca (install Debian's ca-certificates)" >&2
  exit 1
fi

for binary in "$@"; do
  if [ ! -x "$binary" ]; then
    echo "image-rootfs: $binary is not an executable file" >&2
    exit 1
  fi
  install -D -m 0755 "$binary" "$dest/usr/local/bin/$(basename "$binary")"
  # ldd prints `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` for a library,
  # `/lib64/ld-linux-x86-64.so.2 (0x...)` for the loader, and `linux-vdso.so.1 (0x...)` for
  # the kernel's, which has no file.
  libraries="$(ldd "$binary")"
  while read -r line; do
    case "$line" in
      *"not found"*)
        echo "image-rootfs: $binary needs a library that is not installed: $line" >&2
        exit 1
        ;;
      *" => /"*) path="${line#* => }" ;;
      /*) path="$line" ;;
      *) continue ;;
    esac
    path="${path%% (*}"
    install -D -m 0755 "$(readlink -f "$path")" "$dest$path"
  done <<<"$libraries"
done

install -D -m 0644 "$ca" "$dest$ca"
printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
  'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin' >"$dest/etc/passwd"
printf '%s\n' 'root:x:0:' 'nonroot:x:65532:' >"$dest/etc/group"
chmod 0644 "$dest/etc/passwd" "$dest/etc/group"
