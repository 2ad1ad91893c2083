#!/usr/bin/env bash
# The main job: Debian's registry on loopback, seeded with sample images made from code, then
# the imc service in the foreground. The registry keeps running after the service stops.
set -euo pipefail
registry="${1:-127.0.0.1:5000}"
root="${2:-/var/lib/imc}"
mkdir -p "$root/demo-registry"

if ! curl -fsS "http://$registry/v2/" >/dev/null 2>&1; then
  cat > "$root/demo-registry/config.yml" <<YAML
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $root/demo-registry/data}, delete: {enabled: true}}
http: {addr: $registry}
YAML
  nohup /usr/bin/docker-registry serve "$root/demo-registry/config.yml" >"$root/demo-registry/log" 2>&1 &
  for _ in $(seq 1 100); do curl -fsS "http://$registry/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
  echo "demo registry serving on http://$registry (log: $root/demo-registry/log)"
fi

bin="${IMC_BIN:-.build/release}"
"$bin"/imc-bench seed --registry "$registry"
echo "Pull one with: $bin/imc pull $registry/demo/multi:latest --plain-http $registry --platform linux/arm64 --dest /tmp/imc-images"
cat > "$root/demo-config.yaml" <<YAML
# The demo registry runs on loopback, which registry addresses may not be unless allowed.
registries: {allowedNetworks: ["${registry%:*}/32"]}
YAML
exec "$bin"/imc serve --data-root "$root" --listen "${IMC_LISTEN:-127.0.0.1:8080}" --plain-http "$registry" --config "$root/demo-config.yaml"
