"""The API over HTTPS: the official SDK with imc's CA as `HttpProfile(certification=...)`, and
tccli, the official command line, which speaks only HTTPS, with the CA in its trust store."""
import json
import os
import subprocess
import time

import pytest
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.tke.v20180525 import models, tke_client

from conftest import ROOT_ID, ROOT_KEY

TCCLI = os.environ.get("IMC_TCCLI", "/opt/imc-tools/tccli/bin/tccli")
TCCLI_PATH = os.path.dirname(os.path.dirname(TCCLI))


def tls_client(server, certification):
    http = HttpProfile(endpoint=f"127.0.0.1:{server['tls_port']}", protocol="https")
    http.certification = certification
    return tke_client.TkeClient(credential.Credential(ROOT_ID, ROOT_KEY), "ap-guangzhou", ClientProfile(httpProfile=http))


def test_the_sdk_speaks_https_with_imcs_ca(server):
    assert os.path.exists(server["ca"])
    client = tls_client(server, server["ca"])
    name = f"tls-{time.time_ns()}"
    req = models.CreateImageCacheRequest()
    req.from_json_string(json.dumps({"Images": ["nginx"], "ImageCacheName": name}))
    created = client.CreateImageCache(req)
    req = models.DescribeImageCachesRequest()
    req.from_json_string(json.dumps({"ImageCacheNames": [name]}))
    assert client.DescribeImageCaches(req).ImageCaches[0].ImageCacheId == created.ImageCacheId


def test_a_client_that_does_not_trust_the_ca_is_refused_by_tls(server):
    # The system's trust store does not hold imc's generated CA: the handshake fails.
    client = tls_client(server, None)
    with pytest.raises(TencentCloudSDKException) as e:
        client.DescribeImageCaches(models.DescribeImageCachesRequest())
    assert "certificate" in str(e.value).lower() or "ssl" in str(e.value).lower()


def trust_store(server):
    """tccli verifies with certifi's bundle (not REQUESTS_CA_BUNDLE): its trust store is that file.
    Here, a copy of it with imc's CA appended, which a certifi of the test's own (first on the
    path) names; an operator appends the CA to tccli's certifi bundle the same way."""
    store = os.path.join(server["data"], "tccli-trust")
    if not os.path.exists(os.path.join(store, "certifi", "__init__.py")):
        os.makedirs(os.path.join(store, "certifi"), exist_ok=True)
        import certifi
        bundle = os.path.join(store, "bundle.pem")
        with open(bundle, "w") as out:
            out.write(open(certifi.where()).read() + "\n" + open(server["ca"]).read())
        with open(os.path.join(store, "certifi", "__init__.py"), "w") as f:
            f.write(f"def where():\n    return {bundle!r}\n\ndef contents():\n    return open(where()).read()\n")
    return store


def tccli(server, *args, check=True):
    path = trust_store(server) + os.pathsep + TCCLI_PATH
    env = dict(os.environ, PYTHONPATH=path, HOME=server["data"],
               TENCENTCLOUD_SECRET_ID=ROOT_ID, TENCENTCLOUD_SECRET_KEY=ROOT_KEY, TENCENTCLOUD_REGION="ap-guangzhou")
    out = subprocess.run(
        ["python3", TCCLI, "tke", *args, "--endpoint", f"127.0.0.1:{server['tls_port']}", "--output", "json"],
        env=env, capture_output=True, text=True, timeout=120)
    if not check:
        return out
    assert out.returncode == 0, out.stderr + out.stdout
    return json.loads(out.stdout)


@pytest.mark.skipif(not os.path.exists(TCCLI), reason="tccli is installed by scripts/setup.sh")
def test_tccli_drives_the_image_cache_and_instance_actions(server):
    name = f"tccli-{time.time_ns()}"
    # tccli requires what the real API requires: a subnet and a VPC.
    net = ["--SubnetId", "subnet-12345678", "--VpcId", "vpc-12345678"]
    created = tccli(server, "CreateImageCache", "--Images", '["nginx:1.25"]', "--ImageCacheName", name, "--ImageCacheSize", "30", *net)
    cache_id = created["ImageCacheId"]
    described = tccli(server, "DescribeImageCaches", "--ImageCacheIds", json.dumps([cache_id]))
    assert described["TotalCount"] == 1 and described["ImageCaches"][0]["ImageCacheName"] == name
    assert described["ImageCaches"][0]["ImageCacheSize"] == 30
    tccli(server, "UpdateImageCache", "--ImageCacheId", cache_id, "--ImageCacheName", name + "-renamed")
    matched = tccli(server, "GetMostSuitableImageCache", "--Images", '["nginx:1.25"]')
    assert matched["Found"] is False  # still Pending: this server builds nothing
    instances = tccli(server, "CreateEKSContainerInstances", "--Containers",
                      json.dumps([{"Name": "c", "Image": "nginx:1.25"}]), "--Cpu", "1", "--Memory", "2",
                      "--EksCiName", name, "--SecurityGroupIds", '["sg-12345678"]', *net)
    ids = instances["EksCiIds"]
    listed = tccli(server, "DescribeEKSContainerInstances", "--EksCiIds", json.dumps(ids))
    assert listed["TotalCount"] == 1 and listed["EksCis"][0]["EksCiName"] == name
    # UpdateEKSContainerInstance reaches imc through tccli: an image the instance has not is
    # refused naming the field (or, while it starts, the update is refused until it has).
    out = tccli(server, "UpdateEKSContainerInstance", "--EksCiId", ids[0], "--Containers",
                json.dumps([{"Name": "c", "Image": "elsewhere/other:1"}]), check=False)
    assert out.returncode != 0 and ("Containers[0].Image" in out.stdout + out.stderr
                                    or "can be updated once it has started" in out.stdout + out.stderr), out.stdout + out.stderr
    regions = tccli(server, "DescribeEKSContainerInstanceRegions")
    assert regions["TotalCount"] == len(regions["Regions"]) >= 1
    assert {"Alias": "gz", "RegionName": "ap-guangzhou", "RegionId": 1} in regions["Regions"]
    tccli(server, "DeleteEKSContainerInstances", "--EksCiIds", json.dumps(ids))
    tccli(server, "DeleteImageCaches", "--ImageCacheIds", json.dumps([cache_id]))
    assert tccli(server, "DescribeImageCaches", "--ImageCacheIds", json.dumps([cache_id]))["TotalCount"] == 0
