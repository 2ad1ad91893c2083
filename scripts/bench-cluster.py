#!/usr/bin/env python3
"""The cluster's figures for BENCHMARKS.md: N instances over three nodes from one cache (start-up
median and p99, failures, what is left afterwards), and the time from a node's death to its
instances Running elsewhere. Everything real: PostgreSQL, a one-node Ceph, the registry, two API
replicas and three nodes (`imc serve --role`, each in its own mount namespace), driven through
the official Tencent Cloud SDK as a user would.

    python3 scripts/bench-cluster.py --instances 1000 --concurrency 24 [--imc .build/release/imc]
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Python"))
parser = argparse.ArgumentParser()
parser.add_argument("--instances", type=int, default=1000)
parser.add_argument("--concurrency", type=int, default=24)
parser.add_argument("--survivors", type=int, default=6, help="Always instances on the node that is killed")
parser.add_argument("--lost-seconds", type=int, default=10)
parser.add_argument("--imc", default=None)
options = parser.parse_args()
if options.imc:
    os.environ["IMC_BINARY"] = os.path.abspath(options.imc)

from cluster_bed import Cluster, Engines, Registry  # noqa: E402
from conftest import make_client  # noqa: E402
from tencentcloud.tke.v20180525 import models  # noqa: E402

NODES = ("node-a", "node-b", "node-c")


def describe(client, ci):
    return client.call_json("DescribeEKSContainerInstances", {"EksCiIds": [ci]})["Response"]["EksCis"][0]


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    registry, engines = Registry(), Engines()
    cluster = Cluster(registry.host, engines, lost_seconds=options.lost_seconds, heartbeat_seconds=1, log_level="warning")
    try:
        run(cluster)
    finally:
        slow = cluster.stop_all()
        cluster.remove()
        engines.stop()
        registry.stop()
        if slow:
            print(f"slow to stop: {slow}")


def run(cluster):
    for name in ("api-1", "api-2"):
        cluster.start(name, "api")
    for name in NODES:
        cluster.start(name, "node", "--builders", "1", "--node-cpu", "64", "--node-memory-gib", "256")
    apis = [make_client(cluster.arguments[n]) for n in ("api-1", "api-2")]
    req = models.CreateImageCacheRequest()
    req.from_json_string(json.dumps({"Images": [f"{cluster.registry}/demo/app:latest"], "ImageCacheName": "bench",
                                     "RegistryHttpEndPointList": [cluster.registry]}))
    cache_id = apis[0].CreateImageCache(req).ImageCacheId
    while True:
        d = models.DescribeImageCachesRequest()
        d.ImageCacheIds = [cache_id]
        status = apis[0].DescribeImageCaches(d).ImageCaches[0].Status
        if status in ("Ready", "Failed"):
            break
        time.sleep(0.2)
    assert status == "Ready", status

    # N short instances from the cache, `concurrency` at a time, through both replicas: each
    # created, waited for until it ended, its start-up read, deleted.
    starts, failures, nodes, lock = [], [], {}, threading.Lock()
    counter = iter(range(options.instances))
    began = time.time()

    def worker(w):
        client = make_client(cluster.arguments["api-1" if w % 2 == 0 else "api-2"])
        for n in counter:
            body = {"EksCiName": f"bench-{n}", "AutoMatchImageCache": True, "RestartPolicy": "Never", "Cpu": 0.25,
                    "Memory": 0.5, "Containers": [{"Name": "app", "Image": f"{cluster.registry}/demo/app:latest",
                                                    "Commands": ["/bin/sh", "-c", "true"]}]}
            try:
                [ci] = client.call_json("CreateEKSContainerInstances", body)["Response"]["EksCiIds"]
            except Exception as e:  # a refusal is a failure of the run
                with lock:
                    failures.append(f"create: {e}")
                continue
            deadline = time.time() + 300
            while time.time() < deadline:
                i = describe(client, ci)
                if i["Status"] in ("Succeeded", "Failed"):
                    break
                time.sleep(0.1)
            phases = {p["Name"]: p["Milliseconds"] for p in i["StartupPhases"]}
            with lock:
                nodes[i["NodeName"]] = nodes.get(i["NodeName"], 0) + 1
                if i["Status"] == "Succeeded" and "Started:app" in phases and i["ImageCacheResult"] == "ImageCacheUsed":
                    starts.append(phases["Started:app"])
                else:
                    failures.append(f"{ci}: {i['Status']} {i['StatusMessage']} {i['ImageCacheResult']}")
            delete = models.DeleteEKSContainerInstancesRequest()
            delete.EksCiIds = [ci]
            client.DeleteEKSContainerInstances(delete)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(options.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - began
    # Everything deleted: wait for the records to go, then count what is left on the hosts.
    deadline = time.time() + 300
    while time.time() < deadline:
        left = apis[0].DescribeEKSContainerInstances(models.DescribeEKSContainerInstancesRequest()).TotalCount
        if left == 0:
            break
        time.sleep(0.5)
    images = subprocess.run(["rbd", "-c", cluster.ceph_conf, "ls"], capture_output=True, text=True).stdout.split()
    fuses = subprocess.run(["pgrep", "-fc", f"rbd-fuse.*{cluster.base}"], capture_output=True, text=True).stdout.strip()
    mounts = 0
    for name in NODES:
        pid = cluster.processes[name].pid
        out = subprocess.run(["nsenter", "-t", str(pid), "-m", "cat", "/proc/self/mountinfo"], capture_output=True, text=True)
        mounts += sum(1 for line in out.stdout.splitlines() if cluster.base in line and "/instances/run/" in line)
    print(f"\n{options.instances} instances over {len(NODES)} nodes, {options.concurrency} at a time: "
          f"{elapsed:.0f} s ({options.instances / elapsed:.1f} instances/s)")
    if starts:
        print(f"  start-up (creation to the container started): median {statistics.median(starts):.0f} ms, "
              f"p99 {percentile(starts, 99):.0f} ms, max {max(starts):.0f} ms")
    print(f"  placed: {dict(sorted(nodes.items()))}")
    print(f"  failures: {len(failures)} {failures[:5]}")
    print(f"  left afterwards: {left} instance records, {len([i for i in images if i.startswith('disk-')]) - 1} disks "
          f"besides the cache's base image, {fuses or 0} rbd-fuse, {mounts} instance mounts")

    # A node's death: Always instances on the node about to die, then kill -9 of it.
    body = {"AutoMatchImageCache": True, "RestartPolicy": "Always", "Cpu": 1, "Memory": 1,
            "Containers": [{"Name": "app", "Image": f"{cluster.registry}/demo/app:latest",
                            "Commands": ["/bin/sh", "-c", "exec sleep 3600"]}]}
    ids = []
    for n in range(options.survivors * 3):
        ids += apis[n % 2].call_json("CreateEKSContainerInstances", dict(body, EksCiName=f"always-{n}"))["Response"]["EksCiIds"]
    running = {}
    deadline = time.time() + 300
    while len(running) < len(ids) and time.time() < deadline:
        for ci in ids:
            i = describe(apis[0], ci)
            if i["Status"] == "Running":
                running[ci] = i["NodeName"]
        time.sleep(0.2)
    dead = max(NODES, key=lambda n: sum(1 for v in running.values() if v == n))
    victims = [ci for ci, n in running.items() if n == dead]
    killed = time.time()
    cluster.stop(dead, signal.SIGKILL)
    back = {}
    while len(back) < len(victims) and time.time() < killed + 300:
        for ci in victims:
            if ci not in back:
                i = describe(apis[1], ci)
                if i["Status"] == "Running" and i["NodeName"] != dead:
                    back[ci] = time.time() - killed
        time.sleep(0.1)
    print(f"\nkill -9 of {dead} with {len(victims)} Always instances (lost after {options.lost_seconds} s without "
          f"a heartbeat, heartbeats every 1 s):")
    if back:
        print(f"  Running elsewhere after: first {min(back.values()):.1f} s, median {statistics.median(back.values()):.1f} s, "
              f"last {max(back.values()):.1f} s; {len(victims) - len(back)} not back")
    delete = models.DeleteEKSContainerInstancesRequest()
    delete.EksCiIds = ids
    apis[0].DeleteEKSContainerInstances(delete)


if __name__ == "__main__":
    main()
