"""Every image cache action, driven by the official tencentcloud-sdk-python-tke against imc serve."""
import json
import re
import time

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.tke.v20180525 import models

from conftest import make_client


def create(client, **fields):
    # A name of its own: names are unique per account.
    fields.setdefault("ImageCacheName", f"c-{time.time_ns()}")
    req = models.CreateImageCacheRequest()
    req.from_json_string(json.dumps({"Images": ["nginx"], **fields}))
    return client.CreateImageCache(req).ImageCacheId


def describe(client, **fields):
    req = models.DescribeImageCachesRequest()
    req.from_json_string(json.dumps(fields))
    return client.DescribeImageCaches(req)


def error_of(call):
    with pytest.raises(TencentCloudSDKException) as e:
        call()
    return e.value


def test_create_returns_an_id_and_describe_returns_every_field_but_the_password(client):
    cache_id = create(
        client, Images=["nginx:1.25", "mysql"], ImageCacheName="web", ImageCacheSize=30, RetentionDays=7,
        ImageRegistryCredentials=[{"Server": "ccr.example.com", "Username": "u", "Password": "CANARY-PW", "Name": "reg"}],
        Tags=[{"Key": "team", "Value": "a"}], SubnetId="subnet-1", VpcId="vpc-1", SecurityGroupIds=["sg-1"],
        RegistrySkipVerifyList=["r.example.com"], RegistryHttpEndPointList=["127.0.0.1:5000"],
        AutoCreateEip=False, AutoCreateEipAttribute={"InternetMaxBandwidthOut": 2},
    )
    assert re.fullmatch(r"imc-[a-z0-9]{8}", cache_id)
    resp = describe(client, ImageCacheIds=[cache_id])
    assert resp.TotalCount == 1
    cache = resp.ImageCaches[0]
    assert cache.ImageCacheId == cache_id and cache.ImageCacheName == "web"
    assert cache.ImageCacheSize == 30 and cache.RetentionDays == 7
    assert cache.Images == ["nginx:1.25", "mysql"]
    assert cache.Status in ("Pending", "Ready", "Failed")
    assert cache.ImageRegistryCredentials[0].Username == "u"
    assert cache.ImageRegistryCredentials[0].Password is None
    assert "CANARY-PW" not in resp.to_json_string()
    assert cache.Tags[0].Key == "team" and cache.Tags[0].Value == "a"
    assert cache.Events and cache.Events[0].Reason
    created = time.strptime(cache.CreationTime, "%Y-%m-%dT%H:%M:%SZ")
    expires = time.strptime(cache.ExpireDateTime, "%Y-%m-%dT%H:%M:%SZ")
    assert time.mktime(expires) - time.mktime(created) == 7 * 86400


def test_defaults_size_20_and_kept_until_deleted(client):
    cache = describe(client, ImageCacheIds=[create(client)]).ImageCaches[0]
    assert cache.ImageCacheSize == 20 and cache.RetentionDays == 0 and cache.ExpireDateTime is None


def test_describe_by_name_filter_and_paging(client):
    stem = f"page-{time.time_ns()}"
    names = [f"{stem}-{i}" for i in range(3)]
    ids = [create(client, ImageCacheName=n, Tags=[{"Key": "n", "Value": str(i)}]) for i, n in enumerate(names)]
    assert describe(client, ImageCacheNames=names).TotalCount == 3
    assert [c.ImageCacheId for c in describe(client, ImageCacheNames=[names[1]]).ImageCaches] == [ids[1]]
    resp = describe(client, Filters=[{"Name": "image-cache-name", "Values": names}], Limit=2, Offset=0)
    assert resp.TotalCount == 3 and len(resp.ImageCaches) == 2
    rest = describe(client, Filters=[{"Name": "image-cache-name", "Values": names}], Limit=2, Offset=2)
    assert len(rest.ImageCaches) == 1
    assert {c.ImageCacheId for c in resp.ImageCaches + rest.ImageCaches} == set(ids)


def test_update_name_and_retention_in_place(client):
    cache_id = create(client, ImageCacheName="before")
    req = models.UpdateImageCacheRequest()
    req.from_json_string(json.dumps({"ImageCacheId": cache_id, "ImageCacheName": "after", "RetentionDays": 3}))
    client.UpdateImageCache(req)
    cache = describe(client, ImageCacheIds=[cache_id]).ImageCaches[0]
    assert cache.ImageCacheName == "after" and cache.RetentionDays == 3 and cache.ExpireDateTime is not None


def test_delete_then_gone_and_unknown_ids_refused(client):
    cache_id = create(client)
    req = models.DeleteImageCachesRequest()
    req.ImageCacheIds = [cache_id]
    client.DeleteImageCaches(req)
    assert describe(client, ImageCacheIds=[cache_id]).TotalCount == 0
    gone = models.DeleteImageCachesRequest()
    gone.ImageCacheIds = [cache_id, "imc-zzzzzzzz"]
    e = error_of(lambda: client.DeleteImageCaches(gone))
    assert e.code == "ResourceNotFound" and cache_id in e.message


def test_most_suitable_finds_nothing_that_is_not_ready(client):
    create(client, Images=["busybox:1.36"])
    req = models.GetMostSuitableImageCacheRequest()
    req.Images = ["busybox:1.36"]
    resp = client.GetMostSuitableImageCache(req)
    assert resp.Found is False and resp.ImageCache is None


@pytest.mark.parametrize("fields,code,words", [
    ({"ImageCacheSize": 10}, "InvalidParameterValue", ["ImageCacheSize", "10"]),
    ({"ImageCacheSize": 100000}, "InvalidParameterValue", ["ImageCacheSize", "100000"]),
    ({"RetentionDays": -1}, "InvalidParameterValue", ["RetentionDays", "-1"]),
    ({"Images": []}, "InvalidParameterValue", ["Images"]),
    ({"Images": ["Not A/Ref"]}, "InvalidParameterValue", ["Images[0]", "Not A/Ref"]),
    ({"Images": ["nginx", "library/UPPER"]}, "InvalidParameterValue", ["Images[1]", "lowercase"]),
])
def test_bad_values_are_refused_naming_field_and_value(client, fields, code, words):
    before = describe(client).TotalCount
    e = error_of(lambda: create(client, **fields))
    assert e.code == code
    for w in words:
        assert w in e.message, e.message
    assert describe(client).TotalCount == before, "nothing half-created"


def test_unknown_and_ill_typed_fields(client):
    e = error_of(lambda: client.call_json("CreateImageCache", {"Images": ["nginx"], "Bogus": 1}))
    assert e.code == "UnknownParameter" and "Bogus" in e.message
    e = error_of(lambda: client.call_json("CreateImageCache", {"Images": ["nginx"], "ImageCacheSize": "big"}))
    assert e.code == "InvalidParameter" and "ImageCacheSize" in e.message
    e = error_of(lambda: client.call_json("CreateImageCache", {}))
    assert e.code == "MissingParameter" and "Images" in e.message
    e = error_of(lambda: client.call_json("CreateImageCache", {"Images": ["nginx"], "ImageRegistryCredentials": [{"Username": "u"}]}))
    assert e.code == "MissingParameter" and "ImageRegistryCredentials[0].Server" in e.message
    e = error_of(lambda: client.call_json("DescribeImageCaches", {"Limit": 51}))
    assert e.code == "InvalidParameterValue" and "Limit" in e.message


def test_identical_signed_requests_in_one_second_are_all_accepted_as_the_real_service_does(client):
    # A script that creates in a loop sends byte-identical signed requests within a second (TC3
    # has no nonce); the real service accepts each one, so imc does too.
    # (Unnamed: names are unique per account, so a named create is refused the second time.)
    body = {"Images": ["nginx"], "Tags": [{"Key": "run", "Value": str(time.time_ns())}]}
    import tencentcloud.common.abstract_client as ac
    frozen = int(time.time())
    real = ac.time.time
    ac.time.time = lambda: frozen
    try:
        ids = {client.call_json("CreateImageCache", body)["Response"]["ImageCacheId"] for _ in range(3)}
        assert len(ids) == 3
        assert describe(client, ImageCacheIds=sorted(ids)).TotalCount == 3
    finally:
        ac.time.time = real


def test_unknown_action(client):
    e = error_of(lambda: client.call_json("RunInstances", {}))
    assert e.code == "InvalidAction"


def test_wrong_key_unknown_id_and_stale_timestamp(server, monkeypatch):
    e = error_of(lambda: describe(make_client(server, "AKIDrootTEST", "wrong-key")))
    assert e.code == "AuthFailure.SignatureFailure"
    e = error_of(lambda: describe(make_client(server, "AKIDnobody", "k")))
    assert e.code == "AuthFailure.SecretIdNotFound"
    import tencentcloud.common.abstract_client as ac
    real = time.time
    monkeypatch.setattr(ac.time, "time", lambda: real() - 3600)
    e = error_of(lambda: describe(make_client(server)))
    assert e.code == "AuthFailure.SignatureExpire"


def test_an_unserved_region_is_refused(server):
    e = error_of(lambda: describe(make_client(server, region="eu-frankfurt")))
    assert e.code == "InvalidParameterValue" and "X-TC-Region" in e.message
    assert describe(make_client(server, region="ap-shanghai")).TotalCount >= 0


def test_accounts_see_only_their_own_caches(client, other):
    mine = create(client, ImageCacheName="private")
    assert describe(other, ImageCacheIds=[mine]).TotalCount == 0
    assert all(c.ImageCacheId != mine for c in describe(other, Limit=50).ImageCaches)
    req = models.DeleteImageCachesRequest()
    req.ImageCacheIds = [mine]
    e = error_of(lambda: other.DeleteImageCaches(req))
    assert e.code == "ResourceNotFound"
    upd = models.UpdateImageCacheRequest()
    upd.ImageCacheId = mine
    upd.ImageCacheName = "stolen"
    e = error_of(lambda: other.UpdateImageCache(upd))
    assert e.code == "ResourceNotFound"
    assert describe(client, ImageCacheIds=[mine]).ImageCaches[0].ImageCacheName == "private"


def test_metrics_count_api_calls_with_bounded_labels(server, client):
    import urllib.request
    client.DescribeImageCaches(models.DescribeImageCachesRequest())
    try:
        client.call_json("NoSuchAction<script>", {})
    except Exception:
        pass
    req = models.DescribeImageCachesRequest()
    req.ImageCacheIds = ["imc-nonexist"]
    client.DescribeImageCaches(req)
    with urllib.request.urlopen(f"http://127.0.0.1:{server['port']}/metrics") as r:
        assert r.headers["Content-Type"].startswith("text/plain")
        text = r.read().decode()
    assert 'imc_api_requests_total{action="DescribeImageCaches",code="ok"}' in text
    assert 'imc_api_requests_total{action="other",code="InvalidAction"}' in text
    assert "# TYPE imc_instance_startup_seconds histogram" in text
    # No ids, references or user input as labels.
    assert "imc-" not in text and "eksci-" not in text and "<script>" not in text and "NoSuchAction" not in text
    with urllib.request.urlopen(f"http://127.0.0.1:{server['port']}/healthz") as r:
        assert r.read() == b"ok\n"
    with urllib.request.urlopen(f"http://127.0.0.1:{server['port']}/readyz") as r:
        assert r.status == 200


def test_image_cache_names_are_unique_per_account(client, other):
    name = f"unique-{time.time_ns()}"
    first = create(client, ImageCacheName=name)
    with pytest.raises(TencentCloudSDKException) as e:
        create(client, ImageCacheName=name)
    assert e.value.code == "ResourceInUse" and name in e.value.message and first in e.value.message
    assert describe(client, ImageCacheNames=[name]).TotalCount == 1, "the refused request left nothing"
    # A rename onto a taken name is refused the same way; renaming a cache to its own name is not.
    second = create(client, ImageCacheName=name + "-b")
    req = models.UpdateImageCacheRequest()
    req.from_json_string(json.dumps({"ImageCacheId": second, "ImageCacheName": name}))
    with pytest.raises(TencentCloudSDKException) as e:
        client.UpdateImageCache(req)
    assert e.value.code == "ResourceInUse" and first in e.value.message
    assert describe(client, ImageCacheIds=[second]).ImageCaches[0].ImageCacheName == name + "-b"
    req.from_json_string(json.dumps({"ImageCacheId": first, "ImageCacheName": name}))
    client.UpdateImageCache(req)
    # Another account's namespace is its own; a deleted cache's name is free again.
    assert create(other, ImageCacheName=name).startswith("imc-")
    gone = models.DeleteImageCachesRequest()
    gone.ImageCacheIds = [first]
    client.DeleteImageCaches(gone)
    assert create(client, ImageCacheName=name).startswith("imc-")


def test_a_refresh_interval_is_kept_changed_and_checked(client):
    # An extension field: sent with call_json, as the SDK's model does not carry it.
    body = {"Images": ["nginx"], "ImageCacheName": f"refresh-{time.time_ns()}", "RefreshIntervalMinutes": 60}
    cache_id = client.call_json("CreateImageCache", body)["Response"]["ImageCacheId"]
    got = client.call_json("DescribeImageCaches", {"ImageCacheIds": [cache_id]})["Response"]["ImageCaches"][0]
    assert got["RefreshIntervalMinutes"] == 60 and got["Progress"] == 0
    client.call_json("UpdateImageCache", {"ImageCacheId": cache_id, "RefreshIntervalMinutes": 0})
    got = client.call_json("DescribeImageCaches", {"ImageCacheIds": [cache_id]})["Response"]["ImageCaches"][0]
    assert got["RefreshIntervalMinutes"] == 0 and got["Status"] == "Pending", "changing the interval rebuilds nothing"
    e = error_of(lambda: client.call_json("UpdateImageCache", {"ImageCacheId": cache_id, "RefreshIntervalMinutes": 3}))
    assert e.code == "InvalidParameterValue" and "RefreshIntervalMinutes" in e.message and "3" in e.message


def test_a_builds_resolv_conf_is_refused_by_name(client):
    before = describe(client).TotalCount
    e = error_of(lambda: create(client, Images=["nginx"], ResolveConfig="nameserver 1.1.1.1"))
    assert e.code == "UnsupportedOperation" and e.message.startswith("ResolveConfig is not supported"), (e.code, e.message)
    assert describe(client).TotalCount == before
