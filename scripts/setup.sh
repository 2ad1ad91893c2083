#!/usr/bin/env bash
# Installs what imc needs from Debian and PyPI on a fresh machine. Idempotent: it asks apt only
# for what is missing, so a second run costs a few dpkg queries.
set -euo pipefail

DEBS=(
  zlib1g-dev libzstd-dev libisal-dev   # compression libraries imc links
  docker-registry                      # the real registry the tests start
  pigz                                 # the benchmark compresses its layers with it
  apache2-utils openssl                # htpasswd and certificates for it
  skopeo podman runc                   # the tools the benchmark compares against
  xfsprogs e2fsprogs util-linux attr   # disks, mounts and xattr checks
  iptables nftables conntrack iproute2 # VPC networks: security groups, port bindings, tracked connections
  busybox-static                       # the static shell in the images tests and the demo run; gVisor Pods' pause
  runsc                                # gVisor, the second runtime class
  gcc libc6-dev                        # the walls' probe is built static by the tests
  chromium chromium-driver             # the console's tests drive a real browser
  postgresql-15                        # the scaled-out state; the tests start their own server
  librbd-dev librados-dev              # Ceph RBD snapshots and clones, linked through CRBD
  ceph-mon ceph-osd ceph-common rbd-fuse uuid-runtime  # the one-node Ceph the tests start; images reach a host through rbd-fuse
  libnfs-dev libfuse3-dev fuse3        # imc-nfs: NFS volumes through a userspace client (the kernel has none)
  nfs-ganesha nfs-ganesha-vfs          # the NFS server the tests start in a namespace standing for another host
)

missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The official Tencent Cloud SDK is the API tests' client; pytest runs them.
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
  "tencentcloud-sdk-python-tke==3.1.193" "tencentcloud-sdk-python-vpc==3.1.193" "pytest>=7" "selenium==4.51.0" "kubernetes==33.1.0" 2>&1 | grep -v "^$" || true
python3 -c "import tencentcloud.tke.v20180525, tencentcloud.vpc.v20170312, pytest, selenium, kubernetes" || { echo "setup: the Tencent Cloud SDK, pytest, selenium or the kubernetes client did not install" >&2; exit 1; }

# tccli, the official command line, in a directory of its own: it brings the whole SDK, whose
# files would otherwise overwrite the tke package the tests pin.
TOOLS="${IMC_TOOLS:-/opt/imc-tools}"
if [ ! -x "$TOOLS/tccli/bin/tccli" ]; then
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target "$TOOLS/tccli" \
    "tccli==3.1.189.1" 2>&1 | grep -v "^$" || true
fi
PYTHONPATH="$TOOLS/tccli" python3 "$TOOLS/tccli/bin/tccli" --version >/dev/null || { echo "setup: tccli did not install" >&2; exit 1; }

# The registry package starts a system service on :5000; imc's tests and demo start their own.
if systemctl is-active --quiet docker-registry 2>/dev/null; then systemctl stop docker-registry || true; fi
