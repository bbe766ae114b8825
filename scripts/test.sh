#!/usr/bin/env bash
# The one test command (README "Run the tests"): makes sure RabbitMQ runs on 127.0.0.1:5672
# (with TLS listeners on 5671 and 15671),
# finds or installs helm for the chart tests and tansu for the tests against a second Kafka
# implementation, then checks formatting and lints and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-rabbitmq.sh
# RabbitMQ's TLS listeners for tests/e2e/rabbit_tls.rs, with a test CA made by rcgen.
cargo run --locked --quiet --example test_pki -- target/rabbitmq-tls
bash scripts/ensure-rabbitmq-tls.sh target/rabbitmq-tls
LAGSCALE_HELM="$(bash scripts/ensure-helm.sh)"
if [ -n "$LAGSCALE_HELM" ]; then
  echo "helm: $("$LAGSCALE_HELM" version --short) (the chart tests run helm lint and helm template)"
  export LAGSCALE_HELM
else
  echo "helm: unavailable; the chart tests check values.yaml and template references only"
  unset LAGSCALE_HELM
fi
# tansu, an independent Kafka-compatible broker, for tests/e2e/tansu.rs (built once, 20-35 min;
# see the script). LAGSCALE_SKIP_TANSU=1 skips those tests on purpose; otherwise a tansu that
# cannot be had fails the run rather than passing without them.
if [ "${LAGSCALE_SKIP_TANSU:-}" = 1 ]; then
  echo "tansu: skipped on request (LAGSCALE_SKIP_TANSU=1); the tansu tests say they are skipped"
  unset LAGSCALE_TANSU
else
  LAGSCALE_TANSU="$(bash scripts/ensure-tansu.sh)"
  export LAGSCALE_TANSU
  echo "tansu: $("$LAGSCALE_TANSU" --version) (the tansu tests run against it)"
fi
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked

if [ -n "${LAGSCALE_TEST_KAFKA:-}" ]; then
  cargo test --locked --test e2e -- --ignored kafka_real
else
  echo "kafka_real: skipped (set LAGSCALE_TEST_KAFKA=host:port to also test against a real Kafka-compatible broker)"
fi
