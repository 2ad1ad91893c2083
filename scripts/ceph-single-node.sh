#!/usr/bin/env bash
# ceph-single-node.sh DIR [PORT] -- a real one-node Ceph cluster (mon + 1 bluestore OSD on a sparse
# 10 GiB file) from Debian's packages, for RBD snapshots and copy-on-write clones; no kernel
# rbd/nbd module is needed: rbd-fuse exposes images as files that loop-mount. Up in ~11 s.
# The monitor listens on 127.0.0.1:PORT (default 6789), so tests can run a cluster of their own.
# Stop: ceph-single-node.sh stop DIR (kills the daemons by their pid files and removes nothing).
# Adapted from ../shared/tools: clients have no admin socket (two would collide on one path), and
# librbd's write-back cache is off, so what rbd-fuse acknowledged is in the cluster when a host dies.
set -eu
if [ "${1:-}" = stop ]; then
  D=$2
  for f in "$D"/run/*.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true; done
  exit 0
fi
D=$1; PORT=${2:-6789}; mkdir -p "$D"/{mon,osd0,run,log}
command -v ceph-osd >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ceph-mon ceph-osd ceph-common rbd-fuse >/dev/null
FSID=$(uuidgen)
cat > "$D/ceph.conf" <<CONF
[global]
fsid = $FSID
mon host = [v1:127.0.0.1:$PORT]
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon allow pool delete = true
osd crush chooseleaf type = 0
run dir = $D/run
pid file = $D/run/\$name.pid
log file = $D/log/\$name.log
admin socket = $D/run/\$name.asok
ms bind ipv6 = false
osd objectstore = bluestore
bluestore block create = true
bluestore block size = 10737418240
osd memory target = 1073741824
bluestore cache autotune = false
bluestore cache size = 268435456
[client]
admin socket =
rbd cache = false
log file = $D/log/client.log
[mon.a]
mon data = $D/mon
public addr = 127.0.0.1:$PORT
[osd.0]
osd data = $D/osd0
bluestore block path = $D/osd0.block
CONF
C="-c $D/ceph.conf"
monmaptool --create --fsid "$FSID" --addv a "[v1:127.0.0.1:$PORT]" "$D/monmap" >/dev/null
ceph-mon $C --mkfs -i a --monmap "$D/monmap"
ceph-mon $C -i a
# A command sent while the monitor is still starting is refused ("handle_command on fsid
# 00000000-... != FSID": EPERM): wait until it answers.
for _ in $(seq 100); do ceph $C mon stat >/dev/null 2>&1 && break; sleep 0.2; done
# The OSD is made with the uuid the monitor registered for it (a bare `osd create` and an OSD
# that picks its own uuid disagree now and then: "wrong fsid").
OSD_UUID=$(uuidgen)
for _ in $(seq 10); do ceph $C osd new "$OSD_UUID" >/dev/null 2>&1 && break; sleep 0.5; done
ceph-osd $C -i 0 --mkfs --osd-uuid "$OSD_UUID" >/dev/null 2>&1
ceph $C osd crush add osd.0 1.0 host=localhost root=default >/dev/null 2>&1
# An OSD whose first commands reach the monitor before it knows the cluster's fsid gives up at
# init ("mon_cmd_maybe_osd_create fail: 'wrong fsid'"), now and then: it is started again.
for _ in 1 2 3 4; do
  ceph-osd $C -i 0 || true
  for _ in $(seq 40); do
    ceph $C osd stat 2>/dev/null | grep -q "1 up" && break 2
    sleep 0.5
    # Gone already: it gave up at init; start it again at once.
    [ -f "$D/run/osd.0.pid" ] && ! kill -0 "$(cat "$D/run/osd.0.pid")" 2>/dev/null && break
  done
  [ -f "$D/run/osd.0.pid" ] && kill -9 "$(cat "$D/run/osd.0.pid")" 2>/dev/null || true
  sleep 1
done
ceph $C osd pool create rbd 16 >/dev/null 2>&1 && rbd $C pool init rbd
echo "ceph up: conf $D/ceph.conf"
