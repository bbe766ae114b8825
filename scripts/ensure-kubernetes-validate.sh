#!/usr/bin/env bash
# Prints the path of a kubernetes-validate command for the schema tests
# (tests/e2e/kube_schema.rs): PyPI's kubernetes-validate 1.37.0, which ships the OpenAPI
# schemas of Kubernetes 1.25 to 1.37 (no network when it runs), installed once under
# target/tools/ with every dependency pinned by hash (Linux x86_64, CPython 3.11 to 3.13).
# Prints nothing, and says why on stderr, when it cannot be installed: the schema tests then
# say they are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

tools="$PWD/${CARGO_TARGET_DIR:-target}/tools/kubernetes-validate"
command="$tools/kubernetes-validate"
if [ ! -x "$command" ]; then
  if [ "$(uname -sm)" != "Linux x86_64" ]; then
    echo "kubernetes-validate: no pinned build for $(uname -sm); schema validation skipped" >&2
    exit 0
  fi
  rm -rf "$tools"
  mkdir -p "$tools"
  cat >"$tools/requirements.txt" <<'EOF'
kubernetes-validate==1.37.0 --hash=sha256:85136d018a27b50ec7fc049d902bfa5193f5976807e6c0f408e3ab6fe078cad9
attrs==26.1.0 --hash=sha256:c647aa4a12dfbad9333ca4e71fe62ddc36f4e63b2d260a37a8b83d2f043ac309
importlib-resources==7.1.0 --hash=sha256:1bd7b48b4088eddb2cd16382150bb515af0bd2c70128194392725f82ad2c96a1
jsonschema==4.26.0 --hash=sha256:d489f15263b8d200f8387e64b4c3a75f06629559fb73deb8fdfb525f2dab50ce
jsonschema-specifications==2025.9.1 --hash=sha256:98802fee3a11ee76ecaca44429fda8a41bff98b00a0f2838151b113f210cc6fe
packaging==26.4 --hash=sha256:81383611a09c1bc0b08b76e0fd5829d7c6824c65b27a6aee339da133f4233ea2
referencing==0.37.0 --hash=sha256:381329a9f99628c9069361716891d34ad94af76e461dcb0335825aecc7692231
typing-extensions==4.16.0 --hash=sha256:481caa481374e813c1b176ada14e97f1f67a4539ce9cfeb3f350d78d6370c2e8
pyyaml==6.0.4 \
    --hash=sha256:622aa875fa6533f25fedcffe23079357d65a690d462200afed5d8e9d0e01ebee \
    --hash=sha256:93bfb2459195406a518e2f487a9bbf01df240175f31e06f5a252ac6734c7bbf0 \
    --hash=sha256:50588147ab2c6a59b5f990a4905db80899a6c2bd197e046a6201f1e67587e794
rpds-py==2026.9.1 \
    --hash=sha256:136a1c3fe4402b7008bc81cb62ee538481795b61a7e83df88dff3b3f02b726ff \
    --hash=sha256:addeda51556dac7c1a2f14cda62db8b621cd12afba3091d03a96c72932387eab \
    --hash=sha256:7868b85224291c6cb6759f9b5adb9745f486d226f62b16a614dd5a2a5ab2b35b
EOF
  if ! python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
      --no-deps --only-binary=:all: --require-hashes --target "$tools/lib" \
      -r "$tools/requirements.txt" >&2; then
    rm -rf "$tools"
    echo "kubernetes-validate: could not be installed from PyPI; schema validation skipped" >&2
    exit 0
  fi
  python="$(python3 -c 'import sys; print(sys.executable)')"
  printf '#!/bin/sh\n# Written by scripts/ensure-kubernetes-validate.sh.\nPYTHONPATH=%s exec %s -m kubernetes_validate "$@"\n' \
    "$tools/lib" "$python" >"$command.tmp"
  chmod +x "$command.tmp"
  mv "$command.tmp" "$command"
fi
echo "$command"
