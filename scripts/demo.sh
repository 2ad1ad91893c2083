#!/usr/bin/env bash
# The main job: Debian's registry on loopback, seeded with sample images made from code, then
# the imc service in the foreground. The registry keeps running after the service stops.
set -euo pipefail
registry="${1:-127.0.0.1:5000}"
root="${2:-/var/lib/imc}"
./scripts/demo-registry.sh "$registry" "$root"

bin="${IMC_BIN:-.build/release}"
"$bin"/imc-bench seed --registry "$registry"
echo "Pull one with: $bin/imc pull $registry/demo/multi:latest --plain-http $registry --platform linux/arm64 --dest /tmp/imc-images"
cat > "$root/demo-config.yaml" <<YAML
# The demo registry runs on loopback, which registry addresses may not be unless allowed.
registries: {allowedNetworks: ["${registry%:*}/32"]}
YAML
exec "$bin"/imc serve --data-root "$root" --listen "${IMC_LISTEN:-127.0.0.1:8080}" --plain-http "$registry" --config "$root/demo-config.yaml"
