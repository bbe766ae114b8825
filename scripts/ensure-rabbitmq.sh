#!/usr/bin/env bash
# Makes sure a RabbitMQ broker accepts connections on 127.0.0.1:5672 for the tests, with its
# management API on 127.0.0.1:15672: uses one already running; otherwise starts the installed
# server; otherwise installs Debian's rabbitmq-server (as root, or with passwordless sudo) and
# starts it; then enables the management plugin if needed. Fails with a clear message when
# none of that is possible.
set -euo pipefail

port_open() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

wait_for_port() {
  local deadline=$((SECONDS + 90))
  until port_open; do
    if ((SECONDS >= deadline)); then
      echo "error: RabbitMQ did not accept connections on 127.0.0.1:5672 within 90 s" >&2
      echo "       its logs are under /var/log/rabbitmq/" >&2
      return 1
    fi
    sleep 0.5
  done
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"
  else return 1
  fi
}

start_rabbitmq() {

if ! command -v rabbitmq-server >/dev/null && [ ! -x /usr/sbin/rabbitmq-server ]; then
  echo "RabbitMQ: not installed; installing Debian's rabbitmq-server"
  if ! command -v apt-get >/dev/null; then
    echo "error: no RabbitMQ on 127.0.0.1:5672 and no apt-get to install one." >&2
    echo "       Start RabbitMQ (guest/guest from localhost) on port 5672, then run this again." >&2
    exit 1
  fi
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
     ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null; then
    echo "error: could not install rabbitmq-server (needs root or passwordless sudo)." >&2
    echo "       Install and start RabbitMQ on 127.0.0.1:5672 yourself, then run this again." >&2
    exit 1
  fi
fi

echo "RabbitMQ: starting the installed server"
export PATH="$PATH:/usr/sbin"
as_root rabbitmq-server -detached || rabbitmq-server -detached
wait_for_port
echo "RabbitMQ: accepting connections on 127.0.0.1:5672"
}

# The management plugin serves the HTTP API (port 15672) that `metric: throughput` reads for
# RabbitMQ; it ships with the server and can be enabled on a running node.
management_port_open() { (exec 3<>/dev/tcp/127.0.0.1/15672) 2>/dev/null; }

ensure_management() {
  if management_port_open; then
    echo "RabbitMQ: management API on 127.0.0.1:15672"
    return 0
  fi
  echo "RabbitMQ: enabling the management plugin"
  export PATH="$PATH:/usr/sbin"
  if ! { as_root rabbitmq-plugins enable rabbitmq_management >/dev/null ||
         rabbitmq-plugins enable rabbitmq_management >/dev/null; }; then
    echo "error: could not enable rabbitmq_management; run: rabbitmq-plugins enable rabbitmq_management" >&2
    return 1
  fi
  local deadline=$((SECONDS + 60))
  until management_port_open; do
    if ((SECONDS >= deadline)); then
      echo "error: the management API did not listen on 127.0.0.1:15672 within 60 s" >&2
      return 1
    fi
    sleep 0.5
  done
  echo "RabbitMQ: management API on 127.0.0.1:15672"
}

if port_open; then
  echo "RabbitMQ: already accepting connections on 127.0.0.1:5672"
else
  start_rabbitmq
fi
ensure_management
