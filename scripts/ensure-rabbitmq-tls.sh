#!/usr/bin/env bash
# Configures the running RabbitMQ (scripts/ensure-rabbitmq.sh) for the TLS tests
# (tests/e2e/rabbit_tls.rs), with the test PKI in DIR (examples/test_pki.rs):
#   - an AMQPS listener on 127.0.0.1:5671 and the management API over HTTPS on 15671, both
#     requiring a client certificate from the test CA (5672 and 15672 stay plain; SASL
#     EXTERNAL refuses to work on a listener that lets clients in without a certificate);
#   - SASL EXTERNAL (plugin rabbitmq_auth_mechanism_ssl), mapping a certificate's common
#     name to the user `lagscale-tls`, which has no password.
# Everything is set on the running node (rabbitmqctl eval), nothing in its config files, and
# redone on every run, so the listeners always use DIR's certificates. Needs root or
# passwordless sudo, as ensure-rabbitmq.sh does.
set -euo pipefail
dir="$(cd "${1:?usage: ensure-rabbitmq-tls.sh DIR}" && pwd)"
for file in ca.pem server.pem server-key.pem; do
  [ -r "$dir/$file" ] || { echo "error: $dir/$file is missing; run: cargo run --example test_pki -- $1" >&2; exit 1; }
done
export PATH="$PATH:/usr/sbin"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"
  else
    echo "error: configuring RabbitMQ's TLS listeners needs root or passwordless sudo" >&2
    return 1
  fi
}

# The broker reads the files as its own user.
chmod 755 "$dir" && chmod 644 "$dir"/*.pem

as_root rabbitmq-plugins enable rabbitmq_auth_mechanism_ssl >/dev/null
ssl_opts="[{cacertfile,\"$dir/ca.pem\"},{certfile,\"$dir/server.pem\"},{keyfile,\"$dir/server-key.pem\"},{verify,verify_peer},{fail_if_no_peer_cert,true}]"
as_root rabbitmqctl eval "
  ok = application:set_env(rabbit, auth_mechanisms, ['PLAIN', 'AMQPLAIN', 'EXTERNAL']),
  ok = application:set_env(rabbit, ssl_cert_login_from, common_name),
  catch rabbit_networking:stop_tcp_listener(5671),
  ok = application:set_env(rabbit, ssl_options, $ssl_opts),
  ok = rabbit_networking:start_ssl_listener(5671, $ssl_opts, 1),
  ok = application:stop(rabbitmq_management),
  ok = application:set_env(rabbitmq_management, tcp_config, [{port, 15672}]),
  ok = application:set_env(rabbitmq_management, ssl_config, [{port, 15671} | $ssl_opts]),
  application:start(rabbitmq_management)." >/dev/null

# The user SASL EXTERNAL logs in as: no password, all permissions on /, and the monitoring
# tag for the management API.
as_root rabbitmqctl add_user lagscale-tls unused-password >/dev/null 2>&1 || true
as_root rabbitmqctl clear_password lagscale-tls >/dev/null
as_root rabbitmqctl set_permissions -p / lagscale-tls '.*' '.*' '.*' >/dev/null
as_root rabbitmqctl set_user_tags lagscale-tls monitoring >/dev/null

port_open() { (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }
deadline=$((SECONDS + 60))
until port_open 5671 && port_open 15671 && port_open 15672; do
  if ((SECONDS >= deadline)); then
    echo "error: RabbitMQ's TLS listeners (5671, 15671) did not open within 60 s" >&2
    exit 1
  fi
  sleep 0.5
done
echo "RabbitMQ: AMQPS on 127.0.0.1:5671 and the management API over HTTPS on 15671 (test CA in $dir)"
