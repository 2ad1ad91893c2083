"""A cache built for real through imc serve: Pending -> Ready with a snapshot, events in order,
then matched; and one that fails for a missing image. The images live in Debian's
docker-registry on loopback, seeded with imc-bench (images made from code)."""
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest
from tencentcloud.tke.v20180525 import models

from conftest import IMC, ROOT, ROOT_ID, ROOT_KEY, free_port, make_client

BENCH = os.path.join(os.path.dirname(IMC), "imc-bench")


@pytest.fixture(scope="module")
def registry():
    data = tempfile.mkdtemp(prefix="imc-reg-")
    port = free_port()
    host = f"127.0.0.1:{port}"
    with open(os.path.join(data, "config.yml"), "w") as f:
        f.write(f"version: 0.1\nlog: {{level: error, accesslog: {{disabled: true}}}}\n"
                f"storage: {{filesystem: {{rootdirectory: {data}/data}}}}\nhttp: {{addr: {host}}}\n")
    proc = subprocess.Popen(["/usr/bin/docker-registry", "serve", os.path.join(data, "config.yml")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while time.time() < deadline:
        if subprocess.run([BENCH, "seed", "--registry", host], capture_output=True).returncode == 0:
            break
        time.sleep(0.1)
    else:
        raise RuntimeError("could not seed the registry")
    yield host
    proc.terminate()
    proc.wait(timeout=10)
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="module")
def building_server():
    data = tempfile.mkdtemp(prefix="imc-build-api-")
    port = free_port()
    env = dict(os.environ, IMC_ROOT_SECRET_ID=ROOT_ID, IMC_ROOT_SECRET_KEY=ROOT_KEY)
    log = open(os.path.join(data, "serve.log"), "w")
    proc = subprocess.Popen([IMC, "serve", "--data-root", os.path.join(data, "root"), "--listen", f"127.0.0.1:{port}",
                             "--builders", "1", "--pool-size-gib", "256"], env=env, stdout=log, stderr=subprocess.STDOUT)
    server = {"port": port, "data": data}
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            make_client(server).DescribeImageCaches(models.DescribeImageCachesRequest())
            break
        except Exception:
            if proc.poll() is not None:
                raise RuntimeError(open(log.name).read())
            time.sleep(0.05)
    yield server
    proc.terminate()
    proc.wait(timeout=20)
    subprocess.run(["umount", os.path.join(data, "root", "pool")], check=False)
    shutil.rmtree(data, ignore_errors=True)


def wait_for(client, cache_id, statuses, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        req = models.DescribeImageCachesRequest()
        req.ImageCacheIds = [cache_id]
        cache = client.DescribeImageCaches(req).ImageCaches[0]
        if cache.Status in statuses:
            return cache
        time.sleep(0.1)
    raise AssertionError(f"{cache_id} did not reach {statuses}: {cache.Status}")


def test_a_cache_is_built_snapshotted_and_matched(registry, building_server):
    client = make_client(building_server)
    req = models.CreateImageCacheRequest()
    req.from_json_string(json.dumps({"Images": [f"{registry}/demo/hello:latest", f"{registry}/demo/multi"],
                                     "ImageCacheName": "e2e", "RegistryHttpEndPointList": [registry]}))
    cache_id = client.CreateImageCache(req).ImageCacheId
    cache = wait_for(client, cache_id, {"Ready", "Failed"})
    reasons = [e.Reason for e in cache.Events]
    assert cache.Status == "Ready", [e.Message for e in cache.Events]
    assert cache.SnapshotId and cache.SnapshotId.startswith("snap-")
    assert reasons[-9:] == ["BuilderStarted", "DiskCreated", "Pulling", "Pulled", "Pulling", "Pulled",
                            "SnapshotCreating", "SnapshotCreated", "Ready"]
    snapshot = os.path.join(building_server["data"], "root", "pool", "snapshots", cache.SnapshotId + ".img")
    assert os.path.exists(snapshot)
    assert os.listdir(os.path.join(building_server["data"], "root", "pool", "disks")) == [], "the build disk is released"

    match = models.GetMostSuitableImageCacheRequest()
    match.Images = [f"{registry}/demo/hello"]
    found = client.GetMostSuitableImageCache(match)
    assert found.Found and found.ImageCache.ImageCacheId == cache_id

    delete = models.DeleteImageCachesRequest()
    delete.ImageCacheIds = [cache_id]
    client.DeleteImageCaches(delete)
    assert not os.path.exists(snapshot), "deleting a cache deletes its snapshot"


def test_a_missing_image_fails_the_build_with_its_reason(registry, building_server):
    client = make_client(building_server)
    req = models.CreateImageCacheRequest()
    req.from_json_string(json.dumps({"Images": [f"{registry}/demo/missing:v1"], "ImageCacheName": "missing",
                                     "RegistryHttpEndPointList": [registry]}))
    cache = wait_for(client, client.CreateImageCache(req).ImageCacheId, {"Ready", "Failed"})
    assert cache.Status == "Failed"
    assert cache.Events[-1].Type == "Warning" and cache.Events[-1].Reason == "ImageNotFound"
    assert "demo/missing" in cache.Events[-1].Message
