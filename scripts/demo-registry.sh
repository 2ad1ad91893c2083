#!/usr/bin/env bash
# demo-registry.sh HOST:PORT DIR: Debian's registry on loopback, keeping its data under DIR
# (started once; left running). The demo and the cluster seed it with images made from code.
set -euo pipefail
registry="$1"
root="$2"
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
