#!/usr/bin/env bash
# The gRPC server under an independent load generator: h2load (Debian's nghttp2-client, a C
# HTTP/2 client, installed when missing) in another process, against one `lagscale serve` on
# warm RabbitMQ triggers (one of them `strategy: step`, whose replicas come from a fake
# Kubernetes API, through KUBECONFIG), and against the floor: a do-nothing server of the same
# proto, built as lagscale builds its own, decoding the same requests and answering a constant
# (both served by examples/grpc_requests.rs). On a machine with two cores or more both servers
# run on core 0 and h2load on core 1 (taskset).
#
# For each call, at two concurrencies (1 connection × 1 stream, and 4 × 32), it prints calls/s,
# the ratio to Health/Check's on the same server, p50/p99 latency from h2load's per-request log,
# and the server's CPU time per call (all its threads, from /proc/PID/task/*/schedstat: steadier
# from run to run than calls/s), for lagscale and for the floor. Each number is the median of
# ROUNDS rounds; a round measures every call on both servers in turn, so that a slow spell of
# the machine falls on all of them. At the end it checks, from lagscale's own Prometheus
# counters, that every call was answered OK (h2load sees only HTTP statuses, not gRPC's).
#
#     bash scripts/bench-h2load.sh     # CALLS=200000 for 4 × 32, 20000 for 1 × 1; ROUNDS=3
#
# LAGSCALE_BIN=PATH measures another build of lagscale (an older one, to compare) against the
# same floor and requests.
set -euo pipefail
cd "$(dirname "$0")/.."

calls=${CALLS:-200000}
single=$((calls / 10))
rounds=${ROUNDS:-3}

if ! command -v h2load >/dev/null; then
  echo "h2load: not installed; installing Debian's nghttp2-client" >&2
  if [ "$(id -u)" = 0 ]; then as_root=(); else as_root=(sudo -n); fi
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-client >/dev/null ||
    { "${as_root[@]}" apt-get update -qq && "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq nghttp2-client >/dev/null; } ||
    { echo "error: cannot install nghttp2-client (needs root or passwordless sudo)" >&2; exit 1; }
fi
bash scripts/ensure-rabbitmq.sh >&2
cargo build --release --locked --quiet --bin lagscale --example grpc_requests
lagscale_bin=${LAGSCALE_BIN:-./target/release/lagscale}

work=$(mktemp -d)
server_pid="" floor_pid=""
cleanup() {
  for pid in $server_pid $floor_pid; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
metrics_port=$(free_port)
server_cpu=() client_cpu=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  server_cpu=(taskset -c 0) client_cpu=(taskset -c 1)
  pinning="server on core 0, h2load on core 1"
else
  pinning="not pinned (one core)"
fi

queue="lagscale-bench-h2load-$$"
# Writes the request bodies, fills the queue, then serves the fake Kubernetes API and the floor.
"${server_cpu[@]}" ./target/release/examples/grpc_requests "$work" "$queue" &
floor_pid=$!
deadline=$((SECONDS + 60))
until [ -f "$work/ready/floor" ]; do
  if ! kill -0 "$floor_pid" 2>/dev/null || ((SECONDS >= deadline)); then echo "error: grpc_requests did not get ready" >&2; exit 1; fi
  sleep 0.1
done
floor_addr=$(cat "$work/ready/floor")

KUBECONFIG="$work/ready/kubeconfig" RUST_LOG=${RUST_LOG:-info} "${server_cpu[@]}" "$lagscale_bin" serve \
  --listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$metrics_port" >"$work/serve.log" 2>&1 &
server_pid=$!
deadline=$((SECONDS + 30))
until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
  if ((SECONDS >= deadline)); then echo "error: lagscale serve did not listen" >&2; cat "$work/serve.log" >&2; exit 1; fi
  sleep 0.1
done

# The CPU time so far of process PID, in nanoseconds, over all its threads.
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ns += $1} END {printf "%.0f", ns}'; }

# run PID ADDR PATH BODY CONNECTIONS STREAMS CALLS: prints "calls/s p50_us p99_us cpu_us_per_call"
# of the server PID listening on ADDR.
run() {
  local pid=$1 addr=$2 path=$3 body=$4 connections=$5 streams=$6 n=$7
  local log="$work/h2load.log" out="$work/h2load.out" cpu_before cpu_after rate failed
  rm -f "$log" # h2load appends to it
  cpu_before=$(cpu_ns "$pid")
  "${client_cpu[@]}" h2load -t 1 -c "$connections" -m "$streams" -n "$n" -d "$work/$body" \
    -H 'content-type: application/grpc' -H 'te: trailers' --log-file="$log" \
    "http://$addr/$path" >"$out"
  cpu_after=$(cpu_ns "$pid")
  rate=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' "$out")
  failed=$(sed -n 's/^requests:.* \([0-9]*\) failed.*/\1/p' "$out")
  if [ "$failed" != 0 ]; then echo "error: $path on $addr: $failed requests failed" >&2; cat "$out" >&2; exit 1; fi
  sort -n -k3 "$log" | awk -v rate="$rate" -v cpu=$((cpu_after - cpu_before)) -v n="$n" '{ d[NR] = $3 } END {
    p50 = int(NR * 0.50); if (p50 < 1) p50 = 1
    p99 = int(NR * 0.99); if (p99 < 1) p99 = 1
    printf "%s %d %d %.2f\n", rate, d[p50], d[p99], cpu / n / 1000 }'
}

# median FILE: each column's median over the file's lines (one line per round).
median() {
  local columns
  columns=$(awk 'NR == 1 {print NF}' "$1")
  for c in $(seq "$columns"); do
    awk -v c="$c" '{print $c}' "$1" | sort -g | awk '{v[NR] = $1} END {printf "%s ", v[int((NR + 1) / 2)]}'
  done
  echo
}

# NAME|PATH|BODY, each called on both servers.
calls_list=(
  "Health/Check|grpc.health.v1.Health/Check|health.bin"
  "GetMetricSpec (plain)|externalscaler.ExternalScaler/GetMetricSpec|spec-plain.bin"
  "GetMetrics plain|externalscaler.ExternalScaler/GetMetrics|metrics-plain.bin"
  "GetMetrics log2|externalscaler.ExternalScaler/GetMetrics|metrics-log2.bin"
  "GetMetrics throughput|externalscaler.ExternalScaler/GetMetrics|metrics-throughput.bin"
  "GetMetrics step (API)|externalscaler.ExternalScaler/GetMetrics|metrics-step.bin"
  "IsActive plain|externalscaler.ExternalScaler/IsActive|spec-plain.bin"
  "IsActive log2|externalscaler.ExternalScaler/IsActive|spec-log2.bin"
)
servers=("lagscale|$server_pid|127.0.0.1:$port" "floor|$floor_pid|$floor_addr")

# Warm: every trigger parsed, its answer cached, its rates read, the connections open.
for entry in "${calls_list[@]}"; do
  IFS='|' read -r name path body <<<"$entry"
  for server in "${servers[@]}"; do
    IFS='|' read -r _ pid addr <<<"$server"
    run "$pid" "$addr" "$path" "$body" 1 1 200 >/dev/null
  done
done

echo "h2load $(h2load --version | awk 'NR==1 {print $2}'), $pinning, RUST_LOG=${RUST_LOG:-info}; lagscale serve on warm RabbitMQ triggers, and the floor; medians of $rounds rounds"
for shape in "1 1 $single" "4 32 $calls"; do
  read -r connections streams n <<<"$shape"
  results="$work/results-$connections-$streams"
  mkdir -p "$results"
  for round in $(seq "$rounds"); do
    for i in "${!calls_list[@]}"; do
      IFS='|' read -r name path body <<<"${calls_list[$i]}"
      for server in "${servers[@]}"; do
        IFS='|' read -r label pid addr <<<"$server"
        run "$pid" "$addr" "$path" "$body" "$connections" "$streams" "$n" >>"$results/$label-$i"
      done
    done
  done
  echo
  echo "$connections connection(s) × $streams stream(s), $n calls each:"
  printf '| %-22s | %9s | %5s | %7s | %7s | %14s | %13s | %5s | %9s | %13s |\n' call calls/s ratio "p50 µs" \
    "p99 µs" "server µs/call" "floor calls/s" ratio "floor p99" "floor µs/call"
  printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' ------------------------ ----------- ------- --------- --------- \
    ---------------- --------------- ------- ----------- ---------------
  base="" floor_base=""
  for i in "${!calls_list[@]}"; do
    IFS='|' read -r name _ _ <<<"${calls_list[$i]}"
    read -r rate p50 p99 cpu < <(median "$results/lagscale-$i")
    read -r floor_rate _ floor_p99 floor_cpu < <(median "$results/floor-$i")
    base=${base:-$rate} floor_base=${floor_base:-$floor_rate}
    ratio=$(awk -v a="$rate" -v b="$base" 'BEGIN {printf "%.2f", a / b}')
    floor_ratio=$(awk -v a="$floor_rate" -v b="$floor_base" 'BEGIN {printf "%.2f", a / b}')
    printf '| %-22s | %9.0f | %5s | %7d | %7d | %14s | %13.0f | %5s | %9d | %13s |\n' "$name" "$rate" "$ratio" \
      "$p50" "$p99" "$cpu" "$floor_rate" "$floor_ratio" "$floor_p99" "$floor_cpu"
  done
done

echo
echo "lagscale's answers, by method and code (lagscale_grpc_requests_total):"
curl -s "http://127.0.0.1:$metrics_port/metrics" | awk '/^lagscale_grpc_requests_total/ {print "  " $0}'
if curl -s "http://127.0.0.1:$metrics_port/metrics" | grep '^lagscale_grpc_requests_total' | grep -v 'code="Ok"' | grep -q .; then
  echo "error: some calls were not answered OK" >&2
  exit 1
fi
