"""A cache built for real through imc serve: Pending -> Ready with a snapshot, events in order,
then matched; and one that fails for a missing image. The images live in Debian's
docker-registry on loopback, seeded with imc-bench (images made from code)."""
import json
import time

from tencentcloud.tke.v20180525 import models

from conftest import disks_left, make_client, snapshots_held


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
    assert cache.SnapshotId in snapshots_held(building_server)
    assert disks_left(building_server) == [], "the build disk is released"

    match = models.GetMostSuitableImageCacheRequest()
    match.Images = [f"{registry}/demo/hello"]
    found = client.GetMostSuitableImageCache(match)
    assert found.Found and found.ImageCache.ImageCacheId == cache_id

    delete = models.DeleteImageCachesRequest()
    delete.ImageCacheIds = [cache_id]
    client.DeleteImageCaches(delete)
    assert cache.SnapshotId not in snapshots_held(building_server), "deleting a cache deletes its snapshot"


def test_a_missing_image_fails_the_build_with_its_reason(registry, building_server):
    client = make_client(building_server)
    req = models.CreateImageCacheRequest()
    req.from_json_string(json.dumps({"Images": [f"{registry}/demo/missing:v1"], "ImageCacheName": "missing",
                                     "RegistryHttpEndPointList": [registry]}))
    cache = wait_for(client, client.CreateImageCache(req).ImageCacheId, {"Ready", "Failed"})
    assert cache.Status == "Failed"
    assert cache.Events[-1].Type == "Warning" and cache.Events[-1].Reason == "ImageNotFound"
    assert "demo/missing" in cache.Events[-1].Message


def test_a_cache_for_another_platform_is_built_but_never_matched_here(registry, building_server):
    """A cache pinned to linux/arm64 pulls that platform of a multi-platform image (it can be
    built here though it cannot run here) and is never matched for this host's instances; one for
    the host's platform is."""
    client = make_client(building_server)
    multi = f"{registry}/demo/multi:latest"

    def build(name, platform):
        body = {"Images": [multi], "ImageCacheName": name, "RegistryHttpEndPointList": [registry]}
        if platform:
            body["Platform"] = platform
        cache_id = client.call_json("CreateImageCache", body)["Response"]["ImageCacheId"]
        wait_for(client, cache_id, {"Ready", "Failed"})
        return client.call_json("DescribeImageCaches", {"ImageCacheIds": [cache_id]})["Response"]["ImageCaches"][0]

    arm = build(f"arm-{time.time_ns()}", "linux/aarch64")
    host = None
    try:
        assert arm["Status"] == "Ready", [e["Message"] for e in arm["Events"]]
        assert arm["Platform"] == "linux/arm64", "normalised as registries write it"
        assert any("linux/arm64" in e["Message"] for e in arm["Events"] if e["Reason"] == "Pulled")
        match = models.GetMostSuitableImageCacheRequest()
        match.Images = [multi]
        assert not client.GetMostSuitableImageCache(match).Found
        host = build(f"host-{time.time_ns()}", None)
        assert host["Status"] == "Ready" and host["Platform"] == "linux/amd64"
        assert client.GetMostSuitableImageCache(match).ImageCache.ImageCacheId == host["ImageCacheId"]
        bad = client.call_json
        try:
            bad("CreateImageCache", {"Images": [multi], "Platform": "windows/amd64"})
            raise AssertionError("a windows platform was accepted")
        except Exception as e:  # the SDK raises TencentCloudSDKException
            assert "InvalidParameterValue" in str(e) and "Platform" in str(e) and "windows/amd64" in str(e)
    finally:
        delete = models.DeleteImageCachesRequest()
        delete.ImageCacheIds = [c["ImageCacheId"] for c in (arm, host) if c]
        client.DeleteImageCaches(delete)
