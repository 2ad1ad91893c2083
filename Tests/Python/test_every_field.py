"""Every field of the official SDK's request models, for the actions imc serves, is either acted on
or refused naming it: nothing is accepted and then ignored. Each field is sent alone (over a request
that is valid without it) with a value of the model's type; the answer must be an error that names
the field, or success for a field imc is known to act on. A field the SDK gains later fails this
test until it is placed in one list or the other."""
import json
import re
import time

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.tke.v20180525 import models

from conftest import make_client

# What imc acts on, per action (the rest of each model's fields must be refused by name).
ACTED = {
    "CreateEKSContainerInstances": {
        "Containers", "InitContainers", "EksCiName", "Cpu", "Memory", "RestartPolicy", "ImageRegistryCredentials",
        "SubnetId", "VpcId", "SecurityGroupIds", "DnsConfig", "Replicas", "EksCiVolume",
    },
    "DescribeEKSContainerInstances": {"Limit", "Offset", "Filters", "EksCiIds"},
    "DescribeEksContainerInstanceLog": {"EksCiId", "ContainerName", "Tail", "StartTime", "Previous", "SinceSeconds", "LimitBytes"},
    "DescribeEKSContainerInstanceEvent": {"EksCiId", "Limit"},
    "CreateImageCache": {
        "Images", "ImageCacheName", "ImageRegistryCredentials", "ImageCacheSize", "RetentionDays", "RegistrySkipVerifyList",
        "RegistryHttpEndPointList", "Tags",
    },
    "DescribeImageCaches": {"ImageCacheIds", "ImageCacheNames", "Limit", "Offset", "Filters"},
    "UpdateImageCache": {"ImageCacheId", "ImageCacheName", "ImageRegistryCredentials", "Images", "ImageCacheSize", "RetentionDays", "Tags"},
    "GetMostSuitableImageCache": {"Images", "Snapshotter"},
    "DescribeEKSContainerInstanceRegions": set(),
    "UpdateEKSContainerInstance": {"EksCiId", "RestartPolicy", "Containers", "InitContainers", "Name", "ImageRegistryCredentials"},
}

# Taken and shown, not acted on: the build's network as the real service places it. Refusing them
# would refuse tccli (it requires SubnetId and VpcId) and the seed's YAML (its eip-attributes
# annotation); running the build on the VPC is the fix (issue 21's note). Listed here so that the
# gap is named, and so that no other field joins it unseen.
KNOWN_GAPS = {
    "CreateImageCache": {"SubnetId", "VpcId", "SecurityGroupIds", "ExistedEipId", "AutoCreateEip", "AutoCreateEipAttribute"},
    "UpdateImageCache": {"SecurityGroupIds"},
}


def fields(action):
    """The model's fields and their documented types."""
    doc = getattr(models, f"{action}Request").__init__.__doc__ or ""
    return dict(re.findall(r":type (\w+): (.+)", doc))


def sample(kind):
    kind = kind.strip()
    if kind.startswith("list of "):
        inner = sample(kind[len("list of "):])
        return [inner]
    return {"str": "x", "int": 1, "bool": True, "float": 1.0, "Float": 1.0}.get(kind, {})


def bases(registry, instance_id, cache_id):
    return {
        "CreateEKSContainerInstances": {"Containers": [{"Name": "walk", "Image": f"{registry}/demo/app:latest",
                                                        "Commands": ["/bin/sleep", "600"]}]},
        "DescribeEKSContainerInstances": {},
        "DescribeEksContainerInstanceLog": {"EksCiId": instance_id},
        "DescribeEKSContainerInstanceEvent": {"EksCiId": instance_id},
        "CreateImageCache": {"Images": [f"{registry}/demo/app:latest"], "ImageCacheName": "walk-base"},
        "DescribeImageCaches": {},
        "UpdateImageCache": {"ImageCacheId": cache_id},
        "GetMostSuitableImageCache": {"Images": [f"{registry}/demo/app:latest"]},
        "DescribeEKSContainerInstanceRegions": {},
        "UpdateEKSContainerInstance": {"EksCiId": instance_id},
    }


def test_every_request_field_of_the_sdk_is_acted_on_or_refused_by_name(registry, building_server):
    client = make_client(building_server)
    [instance_id] = client.call_json("CreateEKSContainerInstances", {"EksCiName": "walk-target", "Containers": [
        {"Name": "main", "Image": f"{registry}/demo/app:latest", "Commands": ["/bin/sleep", "600"]}]})["Response"]["EksCiIds"]
    cache_id = client.call_json("CreateImageCache", {"ImageCacheName": "walk-target", "Images": [f"{registry}/demo/app:latest"]})[
        "Response"]["ImageCacheId"]
    made_instances, made_caches = [instance_id], [cache_id]
    # (Updated only once it runs.)
    deadline = time.time() + 60
    while client.call_json("DescribeEKSContainerInstances", {"EksCiIds": [instance_id]})["Response"]["EksCis"][0]["Status"] != "Running":
        assert time.time() < deadline
        time.sleep(0.1)
    report = []
    try:
        for action, base in bases(registry, instance_id, cache_id).items():
            model = fields(action)
            assert model or action == "DescribeEKSContainerInstanceRegions", action
            unknown = ACTED[action] - set(model)
            assert not unknown, f"{action}: ACTED names fields the SDK has not: {unknown}"
            for name, kind in sorted(model.items()):
                body = dict(base)
                if action in ("CreateImageCache", "UpdateImageCache") and name != "ImageCacheId":
                    body["ImageCacheName"] = f"walk-{action[0].lower()}-{name.lower()}"  # names are unique per account
                body[name] = sample(kind)
                try:
                    answer = client.call_json(action, body)["Response"]
                except TencentCloudSDKException as e:
                    assert name in e.message, f"{action}.{name} = {body[name]!r} was refused without naming it: {e.code} {e.message}"
                    report.append((action, name, "refused", e.code))
                    continue
                made_instances += answer.get("EksCiIds", [])
                if answer.get("ImageCacheId"):
                    made_caches.append(answer["ImageCacheId"])
                assert name in ACTED[action] | KNOWN_GAPS.get(action, set()), \
                    f"{action}.{name} = {body[name]!r} was accepted, but imc does not act on it"
                report.append((action, name, "acted" if name in ACTED[action] else "known gap", ""))
    finally:
        if made_caches:
            client.call_json("DeleteImageCaches", {"ImageCacheIds": made_caches})
        client.call_json("DeleteEKSContainerInstances", {"EksCiIds": made_instances})
        # Gone, disks and all, before the next test looks at what the server holds.
        deadline = time.time() + 60
        while client.call_json("DescribeEKSContainerInstances", {"EksCiIds": made_instances})["Response"]["TotalCount"]:
            assert time.time() < deadline
            time.sleep(0.1)
    print("\n".join(f"{a}.{n}: {how} {code}" for a, n, how, code in report))
