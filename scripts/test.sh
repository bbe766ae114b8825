#!/usr/bin/env bash
# The one test command (README "Run the tests"): makes sure RabbitMQ runs on 127.0.0.1:5672,
# finds or installs helm for the chart tests, then checks formatting and lints and runs every
# test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-rabbitmq.sh
LAGSCALE_HELM="$(bash scripts/ensure-helm.sh)"
if [ -n "$LAGSCALE_HELM" ]; then
  echo "helm: $("$LAGSCALE_HELM" version --short) (the chart tests run helm lint and helm template)"
  export LAGSCALE_HELM
else
  echo "helm: unavailable; the chart tests check values.yaml and template references only"
  unset LAGSCALE_HELM
fi
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked

if [ -n "${LAGSCALE_TEST_KAFKA:-}" ]; then
  cargo test --locked --test e2e -- --ignored kafka_real
else
  echo "kafka_real: skipped (set LAGSCALE_TEST_KAFKA=host:port to also test against a real Kafka-compatible broker)"
fi
