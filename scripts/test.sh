#!/usr/bin/env bash
# The one test command (README "Run the tests"): makes sure RabbitMQ runs on 127.0.0.1:5672,
# then checks formatting and lints and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-rabbitmq.sh
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked

if [ -n "${LAGSCALE_TEST_KAFKA:-}" ]; then
  cargo test --locked --test e2e -- --ignored kafka_real
else
  echo "kafka_real: skipped (set LAGSCALE_TEST_KAFKA=host:port to also test against a real Kafka-compatible broker)"
fi
