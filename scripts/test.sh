#!/usr/bin/env bash
# The one test command (README "Run the tests"): makes sure RabbitMQ runs on 127.0.0.1:5672
# (with TLS listeners on 5671 and 15671),
# finds or installs helm for the chart tests, tansu for the tests against a second Kafka
# implementation and kubernetes-validate for the schema tests, checks formatting and lints,
# builds the container image when podman works, and runs every test.
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
# Kubernetes' own schemas, for the chart's rendered objects and keda-examples/
# (tests/e2e/kube_schema.rs).
LAGSCALE_KUBERNETES_VALIDATE="$(bash scripts/ensure-kubernetes-validate.sh)"
if [ -n "$LAGSCALE_KUBERNETES_VALIDATE" ]; then
  echo "kubernetes-validate: $("$LAGSCALE_KUBERNETES_VALIDATE" --version) (the schema tests check the chart and keda-examples/)"
  export LAGSCALE_KUBERNETES_VALIDATE
else
  echo "kubernetes-validate: unavailable; the schema tests say they are skipped"
  unset LAGSCALE_KUBERNETES_VALIDATE
fi
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# The container image, built from the release binary, for the image tests
# (tests/e2e/image.rs, tests/e2e/dockerfile.rs) when podman works here; a failing build
# fails the run.
if bash scripts/ensure-containers.sh >/dev/null; then
  start=$SECONDS
  image_env="$(bash scripts/build-image.sh)"
  eval "$image_env"
  echo "image: $LAGSCALE_IMAGE in $((SECONDS - start)) s with the release build (the image tests run it with podman)"
else
  echo "image: podman unavailable (see above); the image tests say they are skipped"
  unset LAGSCALE_IMAGE LAGSCALE_IMAGE_ARCHIVE
fi
cargo test --locked

if [ -n "${LAGSCALE_TEST_KAFKA:-}" ]; then
  cargo test --locked --test e2e -- --ignored kafka_real
else
  echo "kafka_real: skipped (set LAGSCALE_TEST_KAFKA=host:port to also test against a real Kafka-compatible broker)"
fi
