#!/usr/bin/env bash
# make run-cluster: imc past one machine, on this one, for a person to try. One PostgreSQL 15
# (initdb under DIR), one Ceph (scripts/ceph-single-node.sh), the demo registry, two API
# replicas and three nodes (`imc serve --role api|node`), each node a process with its own data
# root and its own mount namespace. Ctrl-C stops them all. Logs: DIR/<name>/serve.log.
#
#   API replicas: http://127.0.0.1:8080 and :8081 (TLS on 8443, 8444)
#   kill -9 a node (its pid is printed): after 10 s its Always instances run on another node.
set -euo pipefail
registry="${1:-127.0.0.1:5000}"
dir="${2:-/var/lib/imc-cluster}"
bin="${IMC_BIN:-.build/release}"
pg_bin=/usr/lib/postgresql/15/bin
mkdir -p "$dir"
chmod 711 "$dir"
pids=()
stop() {
  trap - INT TERM EXIT
  echo "stopping the cluster"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  runuser -u postgres -- "$pg_bin/pg_ctl" -D "$dir/pg/data" -m fast stop >/dev/null 2>&1 || true
  ./scripts/ceph-single-node.sh stop "$dir/ceph" || true
}
trap stop INT TERM EXIT

./scripts/demo-registry.sh "$registry" "$dir"
"$bin"/imc-bench seed --registry "$registry"

# PostgreSQL on 127.0.0.1:5433, trust on loopback (a demonstration, not a deployment).
if [ ! -d "$dir/pg/data" ]; then
  mkdir -p "$dir/pg" && chown postgres:postgres "$dir/pg"
  runuser -u postgres -- "$pg_bin/initdb" -D "$dir/pg/data" -A trust -U postgres >/dev/null
fi
runuser -u postgres -- "$pg_bin/pg_ctl" -D "$dir/pg/data" status >/dev/null 2>&1 ||
  runuser -u postgres -- "$pg_bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/log" -w \
    -o "-p 5433 -k $dir/pg -c listen_addresses=127.0.0.1" start >/dev/null
"$pg_bin/psql" -h 127.0.0.1 -p 5433 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'imc'" | grep -q 1 ||
  "$pg_bin/psql" -h 127.0.0.1 -p 5433 -U postgres -c "CREATE DATABASE imc" >/dev/null
database="postgres://postgres@127.0.0.1:5433/imc"

[ -f "$dir/ceph/ceph.conf" ] && ./scripts/ceph-single-node.sh stop "$dir/ceph" && rm -rf "$dir/ceph"
./scripts/ceph-single-node.sh "$dir/ceph" 6790 >/dev/null
echo "Ceph up: $dir/ceph/ceph.conf"

# Every replica and node seals secrets with one key.
[ -f "$dir/master.key" ] || head -c 32 /dev/urandom > "$dir/master.key"
export IMC_MASTER_KEY
IMC_MASTER_KEY=$(base64 -w0 < "$dir/master.key")
# And every API replica answers to one root account.
if [ ! -f "$dir/root-credentials" ]; then
  (umask 077 && printf 'SecretId: AKID%s\nSecretKey: %s\n' "$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32)" \
    "$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 40)" > "$dir/root-credentials")
fi
export IMC_ROOT_SECRET_ID IMC_ROOT_SECRET_KEY
IMC_ROOT_SECRET_ID=$(awk '/SecretId/ {print $2}' "$dir/root-credentials")
IMC_ROOT_SECRET_KEY=$(awk '/SecretKey/ {print $2}' "$dir/root-credentials")
cat > "$dir/config.yaml" <<YAML
registries: {allowedNetworks: ["${registry%:*}/32"]}
YAML
common=(--database "$database" --ceph-conf "$dir/ceph/ceph.conf" --plain-http "$registry" --config "$dir/config.yaml"
  --node-lost-seconds 10 --pool-size-gib 256)
start() {
  local name=$1 port=$2 tls=$3; shift 3
  mkdir -p "$dir/$name"
  chmod 711 "$dir/$name"
  unshare --mount --propagation private -- "$bin"/imc serve --node-name "$name" --data-root "$dir/$name/root" \
    --listen "127.0.0.1:$port" --listen-tls "127.0.0.1:$tls" "${common[@]}" "$@" >>"$dir/$name/serve.log" 2>&1 &
  pids+=($!)
  echo "$name: pid $! (log $dir/$name/serve.log)"
}
start api-1 8080 8443 --role api
start api-2 8081 8444 --role api
start node-a 8090 8490 --role node
start node-b 8091 8491 --role node
start node-c 8092 8492 --role node
for _ in $(seq 1 300); do grep -q "listening on https" "$dir/api-1/serve.log" 2>/dev/null && break; sleep 0.1; done
echo "root account ($dir/root-credentials):"
cat "$dir/root-credentials"
echo "The cluster runs: point the SDK or tccli at http://127.0.0.1:8080 or :8081. Ctrl-C stops it."
wait
