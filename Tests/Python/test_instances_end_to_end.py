"""Container instances through the official SDK against a real imc serve: a cache built from the
demo registry, an instance matched to it (ImageCacheUsed, no layer pulled), one that matches
nothing and pulls, the kubelet-style events, logs, restarts, deletes that leave nothing behind,
and the refusals a user's mistakes get. Containers really run (runc, busybox images)."""
import json
import subprocess
import os
import time

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.tke.v20180525 import models

from conftest import OTHER_ID, OTHER_KEY, ROOT_ID, ROOT_KEY, disks_left, make_client
from test_build_end_to_end import wait_for


def create(client, body):
    """CreateEKSContainerInstances with imc's image-cache extensions (fields the SDK's model does
    not carry go through call_json, as any SDK user would send them)."""
    return client.call_json("CreateEKSContainerInstances", body)["Response"]["EksCiIds"]


def describe(client, ci):
    req = models.DescribeEKSContainerInstancesRequest()
    req.EksCiIds = [ci]
    return client.call_json("DescribeEKSContainerInstances", json.loads(req.to_json_string()))["Response"]["EksCis"][0]


def wait_instance(client, ci, statuses, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        i = describe(client, ci)
        if i["Status"] in statuses:
            return i
        time.sleep(0.05)
    raise AssertionError(f"{ci} did not reach {statuses}: {i['Status']} {events(client, ci)}")


def events(client, ci):
    req = models.DescribeEKSContainerInstanceEventRequest()
    req.EksCiId = ci
    return client.DescribeEKSContainerInstanceEvent(req).Events


def logs(client, ci, container=None):
    req = models.DescribeEksContainerInstanceLogRequest()
    req.EksCiId = ci
    if container:
        req.ContainerName = container
    return client.DescribeEksContainerInstanceLog(req).LogContent


def delete_and_wait(client, ids, server):
    req = models.DeleteEKSContainerInstancesRequest()
    req.EksCiIds = ids
    client.DeleteEKSContainerInstances(req)
    deadline = time.time() + 60
    while time.time() < deadline:
        listed = client.DescribeEKSContainerInstances(models.DescribeEKSContainerInstancesRequest())
        if not {i.EksCiId for i in listed.EksCis} & set(ids):
            break
        time.sleep(0.05)
    root = os.path.join(server["data"], "root")
    with open("/proc/self/mountinfo") as f:
        # This test's instances only: another test's failure must not fail this one too.
        mounts = [line.split()[4] for line in f
                  if any(line.split()[4].startswith(f"{root}/instances/run/{ci}/") for ci in ids)]
    assert mounts == [], mounts
    for ci in ids:
        assert not os.path.exists(os.path.join(root, "instances", "run", ci))


@pytest.fixture(scope="module")
def cache(registry, building_server):
    client = make_client(building_server)
    req = models.CreateImageCacheRequest()
    req.from_json_string(json.dumps({"Images": [f"{registry}/demo/app:latest"], "ImageCacheName": "app",
                                     "RegistryHttpEndPointList": [registry]}))
    cache = wait_for(client, client.CreateImageCache(req).ImageCacheId, {"Ready", "Failed"})
    assert cache.Status == "Ready", [e.Message for e in cache.Events]
    yield cache
    delete = models.DeleteImageCachesRequest()
    delete.ImageCacheIds = [cache.ImageCacheId]
    client.DeleteImageCaches(delete)


def test_an_instance_starts_from_the_matched_cache(registry, building_server, cache):
    client = make_client(building_server)
    [ci] = create(client, {"EksCiName": "from-cache", "AutoMatchImageCache": True, "RestartPolicy": "Never",
                           "Containers": [{"Name": "app", "Image": f"{registry}/demo/app:latest",
                                           "EnvironmentVars": [{"Name": "WHO", "Value": "sdk"}],
                                           "Commands": ["/bin/sh", "-c", "cat /app/message; echo $WHO"]}]})
    assert ci.startswith("eksci-")
    done = wait_instance(client, ci, {"Succeeded", "Failed"})
    assert done["Status"] == "Succeeded", events(client, ci)
    assert done["ImageCacheId"] == cache.ImageCacheId and done["ImageCacheResult"] == "ImageCacheUsed"
    state = done["Containers"][0]["CurrentState"]
    assert state["State"] == "Terminated" and state["ExitCode"] == 0 and state["Reason"] == "Completed"
    names = [p["Name"] for p in done["StartupPhases"]]
    assert names[:4] == ["Created", "Matched", "DiskReady", "DiskMounted"] and names[-1] == "Started:app"

    evs = events(client, ci)
    used = [e for e in evs if e.Reason == "ImageCacheUsed"]
    assert len(used) == 1 and used[0].Type == "Normal" and used[0].PodName == "from-cache"
    assert used[0].Message == (f"Image cache {cache.ImageCacheId} used. Disk {done['ImageCacheDiskId']} attached"
                               f" from snapshot {cache.SnapshotId}; matched 1 of 1 image")
    assert [e.Reason for e in evs if e.Reason in ("Pulling", "Pulled", "Created", "Started")] == ["Pulled", "Created", "Started"]
    assert "already present on machine" in [e for e in evs if e.Reason == "Pulled"][0].Message
    assert logs(client, ci) == "hello from an image cache\nsdk\n"

    # The match set LastMatchedTime; another account sees nothing of the instance.
    req = models.DescribeImageCachesRequest()
    req.ImageCacheIds = [cache.ImageCacheId]
    assert client.DescribeImageCaches(req).ImageCaches[0].LastMatchedTime
    other = make_client(building_server, OTHER_ID, OTHER_KEY)
    with pytest.raises(TencentCloudSDKException) as e:
        events(other, ci)
    assert e.value.code == "ResourceNotFound"
    delete_and_wait(client, [ci], building_server)
    assert disks_left(building_server) == []


def test_the_sdk_model_alone_runs_an_instance_that_pulls(registry, building_server):
    client = make_client(building_server)
    req = models.CreateEKSContainerInstancesRequest()
    req.from_json_string(json.dumps({"EksCiName": "cold", "Cpu": 1, "Memory": 2, "RestartPolicy": "OnFailure",
                                     "SubnetId": "subnet-1", "VpcId": "vpc-1", "SecurityGroupIds": ["sg-1"],
                                     "Containers": [{"Name": "app", "Image": f"{registry}/demo/app:latest"}]}))
    [ci] = client.CreateEKSContainerInstances(req).EksCiIds
    done = wait_instance(client, ci, {"Succeeded", "Failed"})
    assert done["Status"] == "Succeeded", events(client, ci)
    assert done["ImageCacheResult"] == "ImageCacheOff" and done["ImageCacheId"] is None
    reasons = [e.Reason for e in events(client, ci)]
    assert reasons[:3] == ["Scheduled", "Pulling", "Pulled"] and reasons[-2:] == ["Created", "Started"]
    assert logs(client, ci) == "hello from an image cache\nrunning as 0 in /\n"
    listed = client.DescribeEKSContainerInstances(models.DescribeEKSContainerInstancesRequest())
    mine = [i for i in listed.EksCis if i.EksCiId == ci][0]
    assert mine.EksCiName == "cold" and mine.Containers[0].CurrentState.ExitCode == 0 and mine.VpcId == "vpc-1"
    assert mine.PrivateIp and mine.PrivateIp.startswith("10.240."), "an address on its VPC's network"
    delete_and_wait(client, [ci], building_server)


def test_manual_caches_unknown_or_lacking_an_image(registry, building_server, cache):
    client = make_client(building_server)
    [unknown] = create(client, {"ImageCacheId": "imc-00000000", "RestartPolicy": "Never",
                                "Containers": [{"Name": "app", "Image": f"{registry}/demo/app:latest"}]})
    [mismatch] = create(client, {"ImageCacheId": cache.ImageCacheId, "RestartPolicy": "Never",
                                 "Containers": [{"Name": "app", "Image": f"{registry}/demo/app:latest"},
                                                {"Name": "other", "Image": f"{registry}/demo/hello:latest",
                                                 "Commands": ["/bin/true"]}]})
    u = wait_instance(client, unknown, {"Succeeded", "Failed"})
    assert u["Status"] == "Succeeded" and u["ImageCacheResult"] == "ImageCacheNotFound"
    nf = [e for e in events(client, unknown) if e.Reason == "ImageCacheNotFound"][0]
    assert nf.Type == "Warning" and "imc-00000000" in nf.Message
    m = wait_instance(client, mismatch, {"Succeeded", "Failed"})
    # demo/hello has no /bin/true: the pull onto the cache disk worked, the container failed.
    assert m["ImageCacheResult"] == "ImageCacheMismatch" and m["ImageCacheId"] == cache.ImageCacheId
    mm = [e for e in events(client, mismatch) if e.Reason == "ImageCacheMismatch"][0]
    assert mm.Type == "Warning" and f"{registry}/demo/hello:latest" in mm.Message and cache.ImageCacheId in mm.Message
    delete_and_wait(client, [unknown, mismatch], building_server)


def test_restart_and_delete_of_a_running_instance(registry, building_server, cache):
    client = make_client(building_server)
    [ci] = create(client, {"AutoMatchImageCache": True, "RestartPolicy": "Always", "TerminationGracePeriodSeconds": 1,
                           "Containers": [{"Name": "app", "Image": f"{registry}/demo/app:latest",
                                           "Commands": ["/bin/sh", "-c", "echo started; exec sleep 600"]}]})
    wait_instance(client, ci, {"Running"})
    req = models.RestartEKSContainerInstancesRequest()
    req.EksCiIds = [ci]
    client.RestartEKSContainerInstances(req)
    deadline = time.time() + 30
    while time.time() < deadline and describe(client, ci)["Containers"][0]["RestartCount"] < 1:
        time.sleep(0.05)
    i = wait_instance(client, ci, {"Running"})
    assert i["Containers"][0]["RestartCount"] == 1 and i["Containers"][0]["CurrentState"]["State"] == "Running"
    deadline = time.time() + 30
    while logs(client, ci) != "started\n":  # the restarted process writes its line a moment after it runs
        assert time.time() < deadline, logs(client, ci)
        time.sleep(0.05)
    # The run before the restart is kept apart (Previous); StartTime and SinceSeconds choose by
    # when a line was written.
    def log_call(**fields):
        return client.call_json("DescribeEksContainerInstanceLog", {"EksCiId": ci, **fields})["Response"]["LogContent"]
    assert log_call(Previous=True) == "started\n"
    assert log_call(SinceSeconds=600) == "started\n"
    assert log_call(StartTime="2099-01-01T00:00:00Z") == ""
    for fields, named in [({"StartTime": "yesterday"}, "StartTime"), ({"SinceSeconds": 0}, "SinceSeconds"),
                          ({"StartTime": "2026-01-01T00:00:00Z", "SinceSeconds": 5}, "StartTime")]:
        with pytest.raises(TencentCloudSDKException) as e:
            log_call(**fields)
        assert e.value.code == "InvalidParameterValue" and named in e.value.message, e.value.message
    assert "Killing" in [e.Reason for e in events(client, ci)]
    # Being deleted (sleep as the container's first process ignores SIGTERM: the grace second
    # runs out), it shows the status it had, one of the real enum's four, and says it is deleting.
    req = models.DeleteEKSContainerInstancesRequest()
    req.EksCiIds = [ci]
    client.DeleteEKSContainerInstances(req)
    deleting = describe(client, ci)
    assert deleting["Status"] == "Running" and deleting["StatusMessage"].startswith("Deleting"), deleting
    listed = client.call_json("DescribeEKSContainerInstances", {"Filters": [{"Name": "status", "Values": ["Running"]}]})
    assert ci in [i["EksCiId"] for i in listed["Response"]["EksCis"]]
    with pytest.raises(TencentCloudSDKException) as e:
        client.call_json("DescribeEKSContainerInstances", {"Filters": [{"Name": "status", "Values": ["Terminating"]}]})
    assert e.value.code == "InvalidParameterValue" and "Pending, Running, Succeeded, Failed" in e.value.message
    delete_and_wait(client, [ci], building_server)


@pytest.mark.parametrize("body,code,named", [
    ({}, "MissingParameter", "Containers"),
    ({"Containers": [{"Name": "a", "Image": "x"}], "RestartPolicy": "Sometimes"}, "InvalidParameterValue", "RestartPolicy"),
    ({"Containers": [{"Name": "a", "Image": "x", "Shoe": 1}]}, "UnknownParameter", "Containers[0].Shoe"),
    ({"Containers": [{"Name": "a"}]}, "MissingParameter", "Containers[0].Image"),
    ({"Containers": [{"Name": "A b", "Image": "x"}]}, "InvalidParameterValue", "Containers[0].Name"),
    ({"Containers": [{"Name": "a", "Image": "x"}], "Cpu": "two"}, "InvalidParameter", "Cpu"),
    ({"Containers": [{"Name": "a", "Image": "x"}], "ImageCacheDiskType": "FLOPPY"}, "InvalidParameterValue", "ImageCacheDiskType"),
    ({"Containers": [{"Name": "a", "Image": "x"}], "AutoMatchImageCache": True, "ImageCacheId": "imc-12345678"},
     "InvalidParameterValue", "AutoMatchImageCache"),
    ({"Containers": [{"Name": "a", "Image": "x"}], "ImageCacheDiskRetainMinutes": -5}, "InvalidParameterValue", "retain"),
])
def test_bad_requests_are_refused_naming_the_field(building_server, body, code, named):
    client = make_client(building_server)
    before = client.DescribeEKSContainerInstances(models.DescribeEKSContainerInstancesRequest()).TotalCount
    with pytest.raises(TencentCloudSDKException) as e:
        create(client, body)
    assert e.value.code == code and named in e.value.message, (e.value.code, e.value.message)
    assert client.DescribeEKSContainerInstances(models.DescribeEKSContainerInstancesRequest()).TotalCount == before


POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: cli-web
  annotations:
    eks.tke.cloud.tencent.com/use-image-cache: auto
    eks.tke.cloud.tencent.com/image-cache-disk-size: "30"
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: {image}
    command: ["/bin/sh", "-c", "cat /app/message; df -k / | tail -1"]
"""


def test_the_cli_runs_a_pod_manifest_and_follows_the_instance(registry, building_server, cache, tmp_path):
    from test_cli import imc
    pod = tmp_path / "pod.yaml"
    pod.write_text(POD.format(image=f"{registry}/demo/app:latest"))
    out = imc(building_server, "run", "-f", str(pod)).stdout
    # imc run returns once the containers run; this one may already have ended.
    assert "cli-web" in out and ("Running" in out or "Succeeded" in out), out
    assert f"ImageCacheUsed {cache.ImageCacheId}" in out and "(30 GiB)" in out and "Started:app" in out, out
    listed = json.loads(imc(building_server, "instance", "list", "--json").stdout)["EksCis"]
    ci = [i for i in listed if i["EksCiName"] == "cli-web"][0]["EksCiId"]
    deadline = time.time() + 30
    while json.loads(imc(building_server, "instance", "describe", ci, "--json").stdout)["Status"] != "Succeeded":
        assert time.time() < deadline, "the pod did not finish"
        time.sleep(0.05)
    assert imc(building_server, "instance", "logs", ci).stdout.startswith("hello from an image cache\n")
    events = imc(building_server, "instance", "events", ci).stdout
    assert "ImageCacheUsed" in events and "Started" in events
    assert "image cache: ImageCacheUsed" in imc(building_server, "instance", "describe", ci).stdout
    imc(building_server, "instance", "delete", ci, "--wait")
    missing = imc(building_server, "instance", "describe", ci, check=False)
    assert missing.returncode == 1 and "ResourceNotFound" in missing.stderr

    # A bad annotation is refused before anything is sent, naming it and its value.
    pod.write_text(POD.format(image="x").replace("use-image-cache: auto", "use-image-cache: sometimes"))
    bad = imc(building_server, "run", "-f", str(pod), check=False)
    assert bad.returncode != 0 and "use-image-cache" in bad.stderr and "sometimes" in bad.stderr


def test_the_cli_runs_an_image_with_a_command(registry, building_server, cache):
    from test_cli import imc
    out = imc(building_server, "run", f"{registry}/demo/app:latest", "--name", "one-shot", "--use-image-cache", "auto",
              "--env", "X=42", "--json", "--", "/bin/sh", "-c", "echo $X").stdout
    [ci] = json.loads(out)["EksCis"]
    assert ci["ImageCacheResult"] == "ImageCacheUsed" and ci["Status"] in ("Running", "Succeeded")
    imc(building_server, "instance", "delete", ci["EksCiId"], "--wait")


class HeldRegistry:
    """A registry address that accepts connections and answers nothing until released; then it
    answers every connection with bytes that are neither TLS nor a registry's, so that a build
    pulling from it stays in progress for as long as a test needs and then fails at once."""

    ANSWER = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

    def __init__(self):
        import socket
        import threading
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.host = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.held = []
        self.released = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                conn = self.listener.accept()[0]
            except OSError:
                return
            if self.released.is_set():
                self._answer(conn)
            else:
                self.held.append(conn)

    def _answer(self, conn):
        try:
            conn.sendall(self.ANSWER)
        except OSError:
            pass
        conn.close()

    def release(self):
        self.released.set()
        for conn in self.held:
            self._answer(conn)
        self.held = []

    def close(self):
        self.release()
        self.listener.close()


def update_cache(client, cache_id, images):
    req = models.UpdateImageCacheRequest()
    req.ImageCacheId = cache_id
    req.Images = images
    client.UpdateImageCache(req)


def test_an_update_never_sends_instances_back_to_pulls(registry, building_server, cache):
    """While a cache is Updating and after UpdateFailed its previous snapshot serves: automatic
    matching, a cache named by id and GetMostSuitableImageCache find it, and the instance's
    ImageCacheUsed event names the snapshot that served."""
    client = make_client(building_server)
    app = f"{registry}/demo/app:latest"
    req = models.CreateImageCacheRequest()
    req.from_json_string(json.dumps({"Images": [app], "ImageCacheName": "updated-app", "RegistryHttpEndPointList": [registry]}))
    mine = wait_for(client, client.CreateImageCache(req).ImageCacheId, {"Ready", "Failed"})
    held = HeldRegistry()
    try:
        assert mine.Status == "Ready"
        snapshot = mine.SnapshotId

        def starts_from_the_old_snapshot(use, note):
            body = {"EksCiName": "during-update", "RestartPolicy": "Never",
                    "Containers": [{"Name": "app", "Image": app, "Commands": ["/bin/cat", "/app/message"]}]}
            body.update({"AutoMatchImageCache": True} if use == "auto" else {"ImageCacheId": use})
            [ci] = create(client, body)
            done = wait_instance(client, ci, {"Succeeded", "Failed"})
            assert done["Status"] == "Succeeded", events(client, ci)
            assert done["ImageCacheId"] == mine.ImageCacheId and done["ImageCacheResult"] == "ImageCacheUsed"
            used = [e.Message for e in events(client, ci) if e.Reason == "ImageCacheUsed"]
            assert used == [f"Image cache {mine.ImageCacheId} used. Disk {done['ImageCacheDiskId']} attached"
                            f" from snapshot {snapshot}, the previous one, {note}; matched 1 of 1 image"]
            assert not [e for e in events(client, ci) if e.Reason == "Pulling"]
            assert logs(client, ci) == "hello from an image cache\n"
            delete_and_wait(client, [ci], building_server)

        update_cache(client, mine.ImageCacheId, [app, f"{held.host}/never/answers:v1"])
        now = wait_for(client, mine.ImageCacheId, {"Updating"})
        assert now.SnapshotId == snapshot and now.Images == [app, f"{held.host}/never/answers:v1"]
        match = models.GetMostSuitableImageCacheRequest()
        match.Images = [app]
        found = client.GetMostSuitableImageCache(match)
        assert found.Found and found.ImageCache.ImageCacheId == mine.ImageCacheId
        assert found.ImageCache.Status == "Updating"
        starts_from_the_old_snapshot("auto", "serving while the update builds")
        starts_from_the_old_snapshot(mine.ImageCacheId, "serving while the update builds")
        assert wait_for(client, mine.ImageCacheId, {"Updating", "UpdateFailed"}).Status == "Updating", "still held"

        held.release()
        failed = wait_for(client, mine.ImageCacheId, {"UpdateFailed", "Ready"}, seconds=120)
        assert failed.Status == "UpdateFailed" and failed.SnapshotId == snapshot, [e.Message for e in failed.Events]
        assert client.GetMostSuitableImageCache(match).ImageCache.ImageCacheId == mine.ImageCacheId
        starts_from_the_old_snapshot("auto", "serving after the update failed")
    finally:
        held.close()
        delete = models.DeleteImageCachesRequest()
        delete.ImageCacheIds = [mine.ImageCacheId]
        client.DeleteImageCaches(delete)


def test_an_accounts_default_annotations_fill_what_a_request_leaves_unsaid(registry, building_server):
    """The config gives account 100000000003 `use-image-cache: auto` and a 21 GiB disk by default:
    an instance that says nothing about a cache starts from one, with an event that says why; one
    that says AutoMatchImageCache false pulls; a field it gives wins over the default."""
    from conftest import DEFAULTS_ID, DEFAULTS_KEY
    client = make_client(building_server, DEFAULTS_ID, DEFAULTS_KEY)
    app = f"{registry}/demo/app:latest"
    req = models.CreateImageCacheRequest()
    req.from_json_string(json.dumps({"Images": [app], "ImageCacheName": "defaults", "RegistryHttpEndPointList": [registry]}))
    mine = wait_for(client, client.CreateImageCache(req).ImageCacheId, {"Ready", "Failed"})
    assert mine.Status == "Ready"
    try:
        def run(extra):
            body = {"EksCiName": "defaulted", "RestartPolicy": "Never",
                    "Containers": [{"Name": "app", "Image": app, "Commands": ["/bin/cat", "/app/message"]}], **extra}
            [ci] = create(client, body)
            done = wait_instance(client, ci, {"Succeeded", "Failed"})
            assert done["Status"] == "Succeeded", events(client, ci)
            evs = events(client, ci)
            delete_and_wait(client, [ci], building_server)
            return done, evs

        done, evs = run({})
        assert done["ImageCacheId"] == mine.ImageCacheId and done["ImageCacheResult"] == "ImageCacheUsed"
        assert done["ImageCacheDiskSize"] == 21
        applied = [e.Message for e in evs if e.Reason == "DefaultAnnotationsApplied"]
        assert applied == ["The account's default annotations applied: eks.tke.cloud.tencent.com/image-cache-disk-size=21,"
                           " eks.tke.cloud.tencent.com/use-image-cache=auto"]

        done, evs = run({"AutoMatchImageCache": False, "ImageCacheDiskSize": 22})
        assert done["ImageCacheResult"] == "ImageCacheOff" and done["ImageCacheId"] is None
        assert not [e for e in evs if e.Reason == "DefaultAnnotationsApplied"], "the request said everything"
    finally:
        delete = models.DeleteImageCachesRequest()
        delete.ImageCacheIds = [mine.ImageCacheId]
        client.DeleteImageCaches(delete)


def test_a_liveness_probe_from_the_sdk_model_restarts_a_container_that_fails_it(registry, building_server, cache):
    client = make_client(building_server)
    # The fields of the SDK's LivenessOrReadinessProbe model, as a script would send them.
    [ci] = create(client, {
        "EksCiName": "probed", "RestartPolicy": "Always", "TerminationGracePeriodSeconds": 1,
        "Containers": [{"Name": "app", "Image": f"{registry}/demo/app:latest",
                        "Commands": ["/bin/sh", "-c", "touch /tmp/alive; sleep 2; rm /tmp/alive; sleep 600"],
                        "LivenessProbe": {"Probe": {"PeriodSeconds": 1, "FailureThreshold": 2},
                                          "Exec": {"Commands": ["cat", "/tmp/alive"]}}}]})
    try:
        deadline = time.time() + 60
        while describe(client, ci)["Containers"][0]["RestartCount"] < 1:
            assert time.time() < deadline, events(client, ci)
            time.sleep(0.2)
        reasons = [e.Reason for e in events(client, ci)]
        assert "Unhealthy" in reasons and "Killing" in reasons, reasons
        assert any("Liveness probe failed" in e.Message for e in events(client, ci))
    finally:
        delete_and_wait(client, [ci], building_server)


def test_an_update_starts_the_instance_again_with_its_new_spec_keeping_its_id_and_address(registry, building_server, cache):
    client = make_client(building_server)
    image = f"{registry}/demo/app:latest"
    [ci] = create(client, {"EksCiName": "updated", "AutoMatchImageCache": True, "RestartPolicy": "Always",
                           "TerminationGracePeriodSeconds": 1, "VpcId": "vpc-upd", "SecurityGroupIds": [],
                           "Containers": [{"Name": "app", "Image": image, "Commands": ["/bin/sh", "-c", "echo v1; exec sleep 600"]}]})
    try:
        before = wait_instance(client, ci, {"Running"})
        # What the update refuses leaves the instance as it was.
        for body, named in [({"Containers": [{"Name": "app", "Image": "elsewhere/other:1"}]}, "Containers[0].Image"),
                            ({"EksCiVolume": {"CbsVolumes": []}}, "EksCiVolume"),
                            ({"RestartPolicy": "Sometimes"}, "RestartPolicy")]:
            with pytest.raises(TencentCloudSDKException) as e:
                client.call_json("UpdateEKSContainerInstance", {"EksCiId": ci, **body})
            assert named in e.value.message, e.value.message
        req = models.UpdateEKSContainerInstanceRequest()
        req.from_json_string(json.dumps({"EksCiId": ci, "RestartPolicy": "OnFailure", "Containers": [
            {"Name": "app", "Image": image, "Commands": ["/bin/sh", "-c", "echo v2; exec sleep 600"],
             "EnvironmentVars": [{"Name": "STAGE", "Value": "two"}]}]}))
        assert client.UpdateEKSContainerInstance(req).EksCiId == ci
        deadline = time.time() + 30
        while logs(client, ci) != "v2\n":
            assert time.time() < deadline, logs(client, ci)
            time.sleep(0.1)
        after = wait_instance(client, ci, {"Running"})
        assert after["EksCiId"] == ci and after["PrivateIp"] == before["PrivateIp"] and after["RestartPolicy"] == "OnFailure"
        assert after["Containers"][0]["Commands"] == ["/bin/sh", "-c", "echo v2; exec sleep 600"]
        assert after["Containers"][0]["EnvironmentVars"] == [{"Name": "STAGE", "Value": "two"}]
        assert "Updated" in [e.Reason for e in events(client, ci)]
    finally:
        delete_and_wait(client, [ci], building_server)


class Outside:
    """A network namespace standing for the outside world: a veth to the host (a /30 of a
    documentation or benchmarking block the host does not use), with the EIP pool and the VPCs'
    private block routed through the host. No packet leaves the machine."""

    def __init__(self):
        self.name = f"imc-out-{os.getpid()}"
        self.host_end = f"imco{os.getpid() % 100000}"
        used = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout + \
            subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
        prefix = next(p for p in ("203.0.113.", "198.18.0.", "100.127.253.") if p not in used)
        self.address, self.gateway = prefix + "2", prefix + "1"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        for command in [f"link add {self.host_end} type veth peer name eth0 netns {self.name}",
                        f"addr add {self.gateway}/30 dev {self.host_end}", f"link set {self.host_end} up"]:
            subprocess.run(["ip"] + command.split(), check=True)
        for command in [f"addr add {self.address}/30 dev eth0", "link set eth0 up", "link set lo up",
                        f"route add 198.51.100.16/28 via {self.gateway}", f"route add 10.240.0.0/12 via {self.gateway}"]:
            subprocess.run(["ip", "-n", self.name] + command.split(), check=True)

    def run(self, code, timeout=10):
        return subprocess.run(["ip", "netns", "exec", self.name, "python3", "-c", code], capture_output=True, text=True,
                              timeout=timeout)

    def get(self, address, port):
        """What an HTTP GET from outside answers, or None when nothing does."""
        r = self.run(f"import urllib.request\ntry:\n print(urllib.request.urlopen('http://{address}:{port}/index.html', "
                     f"timeout=2).read().decode(), end='')\nexcept Exception as e:\n print('NONE', e)")
        return None if r.stdout.startswith("NONE") else r.stdout

    def close(self):
        subprocess.run(["ip", "link", "del", self.host_end], check=False)
        subprocess.run(["ip", "netns", "del", self.name], check=False)


def vpc_client(server, secret_id=ROOT_ID, secret_key=ROOT_KEY):
    from tencentcloud.common import credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.vpc.v20170312 import vpc_client as vpc
    profile = ClientProfile(httpProfile=HttpProfile(endpoint=f"127.0.0.1:{server['port']}", protocol="http"))
    return vpc.VpcClient(credential.Credential(secret_id, secret_key), "ap-guangzhou", profile)


WEB = ("mkdir -p /www; echo hello > /www/index.html; httpd -p 8080 -h /www; httpd -p 9090 -h /www; sleep 1; "
       "wget -q -O /www/out http://OUTSIDE:9999/; exec sleep 600")


def test_an_eip_reaches_the_instance_from_outside_is_kept_reused_and_released(registry, building_server, cache):
    from tencentcloud.vpc.v20170312 import models as vpc_models
    client, other = make_client(building_server), make_client(building_server, OTHER_ID, OTHER_KEY)
    vpc = vpc_client(building_server)
    outside = Outside()
    listener = subprocess.Popen(
        ["ip", "netns", "exec", outside.name, "python3", "-c",
         "import socket\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
         f"s.bind(('{outside.address}', 9999)); s.listen(4)\nc, a = s.accept(); print(a[0], flush=True)\n"
         "c.recv(4096); c.sendall(b'HTTP/1.0 200 OK\\r\\n\\r\\nok'); c.close()"],
        stdout=subprocess.PIPE, text=True)
    body = {"EksCiName": "eip", "AutoMatchImageCache": True, "RestartPolicy": "Never", "Cpu": 1, "Memory": 2,
            "VpcId": "vpc-eip", "SubnetId": "subnet-eip", "SecurityGroupIds": ["sg-web"],
            "AutoCreateEip": True, "AutoCreateEipAttribute": {"InternetMaxBandwidthOut": 100},
            "Containers": [{"Name": "web", "Image": f"{registry}/demo/app:latest",
                            "Commands": ["/bin/sh", "-c", WEB.replace("OUTSIDE", outside.address)]}]}
    ids = []
    try:
        # What imc does not act on is refused by name; an EIP needs a VPC address to bind to.
        for bad, named in [({"AutoCreateEipAttribute": {"InternetChargeType": "TRAFFIC"}}, "InternetChargeType"),
                           ({"AutoCreateEipAttribute": {"InternetMaxBandwidthOut": 0}}, "InternetMaxBandwidthOut"),
                           ({"VpcId": None, "SubnetId": None}, "VpcId"),
                           ({"ExistedEipIds": ["eip-aaaaaaaa"]}, "exclude each other")]:
            with pytest.raises(TencentCloudSDKException, match=named):
                create(client, {k: v for k, v in {**body, **bad}.items() if v is not None})
        [ci] = ids[:] = create(client, body)
        running = wait_instance(client, ci, {"Running"})
        eip, private = running["EipAddress"], running["PrivateIp"]
        assert eip.startswith("198.51.100.") and running["AutoCreatedEipId"].startswith("eip-"), running
        # Reached through the EIP on the port its group opens to the world; not on the port it
        # opens to its VPC only, and never by its private address.
        deadline = time.time() + 20
        while outside.get(eip, 8080) != "hello\n":
            assert time.time() < deadline, "the EIP never answered"
            time.sleep(0.2)
        assert outside.get(eip, 9090) is None
        assert outside.get(private, 8080) is None
        # What it sends out leaves from its EIP.
        seen = listener.stdout.readline().strip()
        assert seen == eip, (seen, eip)
        # Another account cannot take it.
        with pytest.raises(TencentCloudSDKException, match="does not exist"):
            create(other, {**{k: v for k, v in body.items() if not k.startswith("AutoCreateEip")},
                           "ExistedEipIds": [running["AutoCreatedEipId"]]})
        listed = vpc.DescribeAddresses(vpc_models.DescribeAddressesRequest())
        [address] = listed.AddressSet
        assert (address.AddressIp, address.AddressStatus, address.InstanceId, address.PrivateAddressIp,
                address.Bandwidth) == (eip, "BIND", ci, private, 100), address.to_json_string()
        assert vpc_client(building_server, OTHER_ID, OTHER_KEY).DescribeAddresses(
            vpc_models.DescribeAddressesRequest()).TotalCount == 0
        # Kept when the delete says so: unbound, still the account's, and billed.
        client.call_json("DeleteEKSContainerInstances", {"EksCiIds": [ci], "ReleaseAutoCreatedEip": False})
        wait_gone(client, ci)
        ids.clear()
        [address] = vpc.DescribeAddresses(vpc_models.DescribeAddressesRequest()).AddressSet
        assert (address.AddressIp, address.AddressStatus, address.InstanceId) == (eip, "UNBIND", None)
        assert outside.get(eip, 8080) is None
        # Reused by a new instance, which it then reaches.
        reuse = {**{k: v for k, v in body.items() if not k.startswith("AutoCreateEip")}, "ExistedEipIds": [address.AddressId]}
        reuse["Containers"] = [{**body["Containers"][0], "Commands": ["/bin/sh", "-c", WEB.replace("wget", "true")]}]
        [ci] = ids[:] = create(client, reuse)
        again = wait_instance(client, ci, {"Running"})
        assert again["EipAddress"] == eip and again["AutoCreatedEipId"] is None, again
        deadline = time.time() + 20
        while outside.get(eip, 8080) != "hello\n":
            assert time.time() < deadline, "the reused EIP never answered"
            time.sleep(0.2)
        # A kept EIP stays after its instance; ReleaseAddresses gives it back to the pool.
        delete_and_wait(client, [ci], building_server)
        ids.clear()
        release = vpc_models.ReleaseAddressesRequest()
        release.AddressIds = [address.AddressId]
        vpc.ReleaseAddresses(release)
        assert vpc.DescribeAddresses(vpc_models.DescribeAddressesRequest()).TotalCount == 0
        rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
        assert eip not in rules, [line for line in rules.splitlines() if eip in line]
    finally:
        listener.kill()
        if ids:
            delete_and_wait(client, ids, building_server)
        outside.close()


def wait_gone(client, ci, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        req = models.DescribeEKSContainerInstancesRequest()
        req.EksCiIds = [ci]
        if not client.DescribeEKSContainerInstances(req).EksCis:
            return
        time.sleep(0.05)
    raise AssertionError(f"{ci} was not deleted")
