"""imc past one machine, on one machine: two API replicas and two nodes (`imc serve --role`), each
a process with its own data root and its own mount namespace (it cannot see the others'
mounts), over one PostgreSQL and one Ceph (started by the tests, IMC_TEST_SCALED=1). A cache
built by one node serves instances placed on both; `kill -9` of a node: its Always instance
runs on the other node within the configured time, with events that say why, and the fenced
disk refuses the dead node's writes; a restarted API replica has lost nothing."""
import json
import os
import re
import signal
import subprocess
import time

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.tke.v20180525 import models

from cluster_bed import Cluster, psql
from conftest import make_client
from test_build_end_to_end import wait_for
from test_instances_end_to_end import create, describe, events, wait_instance

LOST_SECONDS = 4


@pytest.fixture(scope="module")
def cluster(registry, engines):
    if not engines:
        pytest.skip("the cluster runs over PostgreSQL and Ceph: IMC_TEST_SCALED=1")
    c = Cluster(registry, engines, lost_seconds=LOST_SECONDS)
    slow = []
    try:
        c.start("api-1", "api")
        c.start("api-2", "api")
        for node in ("node-a", "node-b"):
            c.start(node, "node", "--builders", "1", "--node-cpu", "4", "--node-memory-gib", "64")
        yield c
    finally:
        # Every replica and node stops on SIGTERM (their instances stopped, disks released).
        slow = c.stop_all()
        kept = c.remove(keep_logs_of=slow)
    assert not slow, f"{slow} did not stop within 60 s of SIGTERM (logs in {kept})"


def test_instances_are_placed_on_nodes_run_there_and_survive_the_death_of_one(cluster):
    api1 = make_client(cluster.arguments["api-1"])
    api2 = make_client(cluster.arguments["api-2"])
    assert sorted(psql(cluster.database, "SELECT name, state FROM nodes")) == [["node-a", "Ready"], ["node-b", "Ready"]]

    # A cache, built by one of the two nodes (a build claim: never by both).
    req = models.CreateImageCacheRequest()
    req.from_json_string(json.dumps({"Images": [f"{cluster.registry}/demo/app:latest"], "ImageCacheName": "app",
                                     "RegistryHttpEndPointList": [cluster.registry]}))
    cache = wait_for(api1, api1.CreateImageCache(req).ImageCacheId, {"Ready", "Failed"}, seconds=120)
    assert cache.Status == "Ready", [e.Message for e in cache.Events]
    builders = [n for n in ("node-a", "node-b") if cache.ImageCacheId in open(cluster.arguments[n]["log"]).read()]
    assert len(builders) == 1, builders

    # Two instances in one request, placed by one replica before either starts: 1 CPU each on two
    # equal nodes, the second goes to the node with more room, so the cache serves a node that
    # did not build it. (Two requests would race the first instance's start: once its node says
    # the cache is warm there, the second goes to it too, as placement prefers.) A heartbeat read
    # before the first placement never takes it back (StateStoreContractTests).
    body = {"AutoMatchImageCache": True, "RestartPolicy": "Always", "Cpu": 1, "Memory": 2, "Replicas": 2,
            "EksCiName": "pair",
            "Containers": [{"Name": "app", "Image": f"{cluster.registry}/demo/app:latest",
                            "Commands": ["/bin/sh", "-c", "cat /app/message; exec sleep 3600"]}]}
    first, second = create(api2, body)
    running = {ci: wait_instance(api1, ci, {"Running", "Failed"}, seconds=90) for ci in (first, second)}
    for ci, i in running.items():
        assert i["Status"] == "Running", events(api1, ci)
        assert i["ImageCacheId"] == cache.ImageCacheId and i["ImageCacheResult"] == "ImageCacheUsed"
        assigned = [e.Message for e in events(api2, ci) if e.Reason == "Scheduled"]
        assert assigned == [f"Successfully assigned {i['EksCiName']} to node {i['NodeName']}"], assigned
    assert {i["NodeName"] for i in running.values()} == {"node-a", "node-b"}

    # A restart through a replica reaches the instance's node.
    restart = models.RestartEKSContainerInstancesRequest()
    restart.EksCiIds = [second]
    api2.RestartEKSContainerInstances(restart)
    deadline = time.time() + 60
    while describe(api1, second)["Containers"][0]["RestartCount"] < 1 and time.time() < deadline:
        time.sleep(0.1)
    assert describe(api1, second)["Containers"][0]["RestartCount"] >= 1, events(api1, second)
    assert wait_instance(api1, second, {"Running"})["NodeName"] == running[second]["NodeName"]
    # Its log is on its node's disk: an API replica says so instead of answering an empty log.
    log = models.DescribeEksContainerInstanceLogRequest()
    log.EksCiId = second
    with pytest.raises(TencentCloudSDKException) as refused:
        api1.DescribeEksContainerInstanceLog(log)
    assert f"runs on node {running[second]['NodeName']}" in refused.value.message

    # kill -9 of the first instance's node: its imc dies; what it started (the container, the
    # rbd-fuse of the disk) does not, and must be fenced.
    dead = running[first]["NodeName"]
    alive = "node-b" if dead == "node-a" else "node-a"
    old_disk = running[first]["ImageCacheDiskId"]
    fuse = subprocess.run(["pgrep", "-f", f"rbd-fuse.*{old_disk}"], capture_output=True, text=True).stdout.split()
    assert len(fuse) == 1, fuse
    killed = time.time()
    cluster.stop(dead, signal.SIGKILL)

    deadline = time.time() + LOST_SECONDS + 60
    while time.time() < deadline:
        moved = describe(api2, first)
        if moved["NodeName"] == alive and moved["Status"] == "Running":
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"{first} is not Running on {alive}: {moved['Status']} on {moved['NodeName']}: "
                             f"{[(e.Reason, e.Message) for e in events(api2, first)]}")
    print(f"\nnode {dead} killed; instance Running on {alive} after {time.time() - killed:.1f} s"
          f" (lost after {LOST_SECONDS} s without a heartbeat)")
    evs = {e.Reason: e for e in events(api1, first)}
    assert evs["NodeLost"].Type == "Warning"
    assert f"Node {dead} was lost (no heartbeat for" in evs["NodeLost"].Message
    assert f"its disk {old_disk} was fenced" in evs["NodeLost"].Message
    assert evs["Rescheduled"].Message == f"Started again on node {alive} from image cache {cache.ImageCacheId}"
    assert moved["ImageCacheDiskId"] != old_disk and moved["ImageCacheResult"] == "ImageCacheUsed"
    assert [["node-a" if dead == "node-a" else "node-b", "Lost"]] == psql(
        cluster.database, f"SELECT name, state FROM nodes WHERE name = '{dead}'")

    # The fenced disk refuses the dead node's writes: its rbd-fuse (still running, in the dead
    # node's mount namespace) is blocklisted, and a direct write through it never lands: it
    # fails, or blocks until that rbd-fuse is killed.
    # Which clients were fenced is the operator's to read (the replica's log), not the tenant's:
    # the event says only how many.
    assert "writer(s) blocklisted)" in evs["NodeLost"].Message and "/" not in evs["NodeLost"].Message.split("fenced")[-1]
    logs = "".join(open(cluster.arguments[n]["log"]).read() for n in ("api-1", "api-2"))
    [fenced] = re.findall(rf"blocklisted=(.*?) disk={old_disk} .*disk of lost node fenced", logs)
    fenced = fenced.split(", ")
    blocklist = subprocess.run(["ceph", "-c", cluster.ceph_conf, "osd", "blocklist", "ls"], capture_output=True, text=True)
    addresses = [client for client in fenced if "/" in client]
    assert addresses, fenced
    for client in addresses:
        assert client.split("/")[-1] in blocklist.stdout, (client, blocklist)
    image = os.path.join(cluster.arguments[dead]["data"], "root", "rbd", old_disk, old_disk)
    write = subprocess.Popen(["nsenter", "-t", fuse[0], "-m", "--", "dd", "if=/dev/urandom", f"of={image}", "bs=4096",
                              "count=1", "oflag=direct", "conv=notrunc"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert write.wait(timeout=15) != 0, write.stdout.read()
    except subprocess.TimeoutExpired:
        pass  # blocked: the cluster refuses it and rbd-fuse retries until it is killed
    subprocess.run(["kill", "-9", fuse[0]])
    write.wait(timeout=60)
    assert write.returncode != 0

    # The other instance, on the node that lived, was not touched.
    assert describe(api1, second)["NodeName"] == alive and describe(api1, second)["Status"] == "Running"

    # A restarted API replica has lost nothing.
    before = sorted(i.EksCiId for i in api1.DescribeEKSContainerInstances(models.DescribeEKSContainerInstancesRequest()).EksCis)
    cluster.stop("api-1")
    cluster.start("api-1", "api")
    api1 = make_client(cluster.arguments["api-1"])
    after = sorted(i.EksCiId for i in api1.DescribeEKSContainerInstances(models.DescribeEKSContainerInstancesRequest()).EksCis)
    assert before == after and first in after

    # The fenced disk goes from the pool once the dead node's watches lapse.
    deadline = time.time() + 120
    while time.time() < deadline:
        images = subprocess.run(["rbd", "-c", cluster.ceph_conf, "ls"], capture_output=True, text=True).stdout.split()
        if old_disk not in images:
            break
        time.sleep(1)
    else:
        raise AssertionError(f"the fenced disk {old_disk} is still in the pool")
