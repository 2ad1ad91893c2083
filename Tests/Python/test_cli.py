"""The imc CLI as a client of imc serve: cache commands, --json, and the seed's ImageCache YAML
applied verbatim with `imc apply -f`."""
import base64
import json
import os
import subprocess
import textwrap

from conftest import IMC, ROOT_ID, ROOT_KEY


def imc(server, *args, check=True, stdin=None):
    env = dict(os.environ, TENCENTCLOUD_SECRET_ID=ROOT_ID, TENCENTCLOUD_SECRET_KEY=ROOT_KEY,
               IMC_ENDPOINT=f"127.0.0.1:{server['port']}", IMC_SECRETS_DIR=os.path.join(server["data"], "secrets"))
    r = subprocess.run([IMC, *args], env=env, capture_output=True, text=True, input=stdin)
    if check:
        assert r.returncode == 0, r.stderr
    return r


SIMPLE = """\
apiVersion: eks.cloud.tencent.com/v1
kind: ImageCache
metadata:
  name: imagecache-sample
spec:
  images:
  - nginx
"""

MORE = """\
apiVersion: eks.cloud.tencent.com/v1
kind: ImageCache
metadata:
  annotations:
    "eks.tke.cloud.tencent.com/eip-attributes": '{"InternetMaxBandwidthOut":2}'
  name: imagecache-sample-more-para
spec:
  images:
  - nginx
  - mysql
  imageCacheSize: 30
  retentionDays: 7
  imagePullSecrets:
  - imc-operator-system/qcloudregistrykey
"""


def test_cache_commands_round_trip(server):
    cache_id = imc(server, "cache", "create", "--image", "redis:7", "--name", "cli-made", "--size", "25").stdout.strip()
    assert cache_id.startswith("imc-")
    listed = json.loads(imc(server, "cache", "list", "--json", "--name", "cli-made").stdout)
    assert [c["ImageCacheId"] for c in listed] == [cache_id] and listed[0]["ImageCacheSize"] == 25
    table = imc(server, "cache", "list").stdout
    assert "cli-made" in table and "ID" in table.splitlines()[0]
    imc(server, "cache", "update", cache_id, "--name", "cli-renamed", "--retention-days", "2")
    described = json.loads(imc(server, "cache", "describe", cache_id).stdout)
    assert described["ImageCacheName"] == "cli-renamed" and described["RetentionDays"] == 2
    assert "Creating" in imc(server, "cache", "events", cache_id).stdout
    imc(server, "cache", "delete", cache_id)
    r = imc(server, "cache", "describe", cache_id, check=False)
    assert r.returncode == 1 and "ResourceNotFound" in r.stderr


def test_cli_errors_name_field_and_value(server):
    r = imc(server, "cache", "create", "--image", "nginx", "--size", "5", "--json", check=False)
    assert r.returncode == 1
    assert json.loads(r.stdout)["Error"]["Code"] == "InvalidParameterValue"
    assert "ImageCacheSize" in r.stderr and "5" in r.stderr


def test_the_seeds_yaml_applies_verbatim(server):
    secret_dir = os.path.join(server["data"], "secrets", "imc-operator-system")
    os.makedirs(secret_dir, exist_ok=True)
    auths = {"auths": {"ccr.ccs.tencentyun.com": {"username": "100000000001", "password": "CANARY-SECRET"}}}
    with open(os.path.join(secret_dir, "qcloudregistrykey.yaml"), "w") as f:
        f.write(textwrap.dedent(f"""\
            apiVersion: v1
            kind: Secret
            type: kubernetes.io/dockerconfigjson
            metadata: {{name: qcloudregistrykey, namespace: imc-operator-system}}
            data:
              .dockerconfigjson: {base64.b64encode(json.dumps(auths).encode()).decode()}
            """))
    out = imc(server, "apply", "-f", "-", stdin=SIMPLE + "---\n" + MORE).stdout
    assert "imagecache-sample created" in out and "imagecache-sample-more-para created" in out
    got = imc(server, "get", "imagecaches").stdout
    lines = got.splitlines()
    assert lines[0].split() == ["NAME", "SIZE", "ID", "PHASE", "AGE"]
    assert any(l.split()[0] == "imagecache-sample-more-para" and l.split()[1] == "30" for l in lines[1:])
    more = [c for c in json.loads(imc(server, "cache", "list", "--json").stdout) if c["ImageCacheName"] == "imagecache-sample-more-para"][0]
    assert more["RetentionDays"] == 7 and more["ImageRegistryCredentials"][0]["Server"] == "ccr.ccs.tencentyun.com"
    assert "CANARY-SECRET" not in json.dumps(more)
    # Applying again configures the existing caches instead of creating new ones.
    assert "configured" in imc(server, "apply", "-f", "-", stdin=SIMPLE).stdout
    assert "deleted" in imc(server, "delete", "-f", "-", stdin=SIMPLE + "---\n" + MORE).stdout
    assert "imagecache-sample" not in imc(server, "get", "imagecaches").stdout
