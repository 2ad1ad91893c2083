"""The Kubernetes door, driven by unmodified kubectl (the oldest and the newest installed) and by
the official `kubernetes` Python client, against a real `imc serve`."""
import json
import re
import os
import shutil
import subprocess
import tempfile
import threading
import time

import pytest
from kubernetes import client as k8s, config as k8s_config, watch as k8s_watch
from kubernetes.client.rest import ApiException
from tencentcloud.tke.v20180525 import models

from conftest import IMC, OTHER_ID, OTHER_KEY, ROOT_ID, ROOT_KEY, make_client

KUBECTL_DIR = os.path.dirname(os.path.realpath(shutil.which("kubectl") or "/usr/lib/google-cloud-sdk/bin/kubectl"))
KUBECTLS = [os.path.join(KUBECTL_DIR, f"kubectl.{v}") for v in ("1.27", "1.33")]
KUBECTLS = [k for k in KUBECTLS if os.path.exists(k)]
GROUP, VERSION, PLURAL = "eks.cloud.tencent.com", "v1", "imagecaches"

SEED_SAMPLE = """apiVersion: eks.cloud.tencent.com/v1
kind: ImageCache
metadata:
  name: imagecache-sample
spec:
  images:
  - nginx
"""
SEED_MORE = """apiVersion: eks.cloud.tencent.com/v1
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


def kubeconfig(server, secret_id=ROOT_ID, secret_key=ROOT_KEY):
    """`imc kubeconfig` as a user runs it, into a file of its own."""
    out = subprocess.run([IMC, "kubeconfig", "--endpoint", f"127.0.0.1:{server['port']}"], capture_output=True, text=True,
                         env=dict(os.environ, TENCENTCLOUD_SECRET_ID=secret_id, TENCENTCLOUD_SECRET_KEY=secret_key), check=True)
    fd, path = tempfile.mkstemp(prefix="imc-kubeconfig-", suffix=".yaml")
    with os.fdopen(fd, "w") as f:
        f.write(out.stdout)
    return path


class Kubectl:
    def __init__(self, binary, config):
        self.binary, self.config = binary, config
        self.cache = tempfile.mkdtemp(prefix="imc-kubectl-cache-")

    def __call__(self, *args, stdin=None, check=True, timeout=60):
        r = subprocess.run([self.binary, "--kubeconfig", self.config, "--cache-dir", self.cache, *args], input=stdin,
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"{os.path.basename(self.binary)} {' '.join(args)} failed: {r.stderr}")
        return r


@pytest.fixture(params=KUBECTLS, ids=lambda p: os.path.basename(p))
def kubectl(request, server):
    return Kubectl(request.param, kubeconfig(server))


def test_kubeconfig_names_the_https_listener_and_its_ca(server):
    text = open(kubeconfig(server)).read()
    assert f"server: https://127.0.0.1:{server['tls_port']}/k8s" in text
    assert "certificate-authority-data:" in text and "token: imc." in text


def test_discovery_and_explain(kubectl):
    resources = kubectl("api-resources").stdout
    assert any(line.split()[:2] == ["imagecaches", "imc"] and "eks.cloud.tencent.com/v1" in line and "ImageCache" in line
               for line in resources.splitlines()), resources
    explained = kubectl("explain", "imagecache.spec").stdout
    assert "images" in explained and "imageCacheSize" in explained and "<[]string>" in explained
    crd = json.loads(kubectl("get", "crd", "imagecaches.eks.cloud.tencent.com", "-o", "json").stdout)
    assert crd["spec"]["names"]["shortNames"] == ["imc"] and crd["spec"]["scope"] == "Cluster"


def test_the_seed_examples_apply_verbatim_and_round_trip(kubectl, client):
    name = "imagecache-sample"
    kubectl("delete", "imc", name, "imagecache-sample-more-para", "--ignore-not-found")
    assert "imagecache-sample created" in kubectl("apply", "-f", "-", stdin=SEED_SAMPLE).stdout
    assert "imagecache-sample-more-para created" in kubectl("apply", "-f", "-", stdin=SEED_MORE).stdout
    assert "unchanged" in kubectl("apply", "-f", "-", stdin=SEED_SAMPLE).stdout
    table = kubectl("get", "imagecaches").stdout.splitlines()
    assert table[0].split() == ["NAME", "SIZE", "ID", "PHASE", "AGE"], table
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert rows[name][1] == "20" and rows[name][2].startswith("imc-") and rows[name][3] == "Pending"
    assert rows["imagecache-sample-more-para"][1] == "30"
    more = json.loads(kubectl("get", "imc", "imagecache-sample-more-para", "-o", "json").stdout)
    assert more["spec"]["images"] == ["nginx", "mysql"] and more["spec"]["retentionDays"] == 7
    assert more["spec"]["imagePullSecrets"] == ["imc-operator-system/qcloudregistrykey"]
    assert more["metadata"]["annotations"]["eks.tke.cloud.tencent.com/eip-attributes"] == '{"InternetMaxBandwidthOut":2}'
    assert more["status"]["imcId"].startswith("imc-") and more["status"]["imcPhase"] == "Pending"
    assert {c["type"] for c in more["status"]["conditions"]} == {"Ready", "Serving"}
    # One model: the Cloud API sees the object, with the same id, size and images.
    req = models.DescribeImageCachesRequest()
    req.from_json_string(json.dumps({"ImageCacheIds": [more["status"]["imcId"]]}))
    cache = json.loads(client.DescribeImageCaches(req).to_json_string())["ImageCaches"][0]
    assert cache["ImageCacheName"] == "imagecache-sample-more-para" and cache["ImageCacheSize"] == 30
    # A field removed from the YAML on re-apply is reset (three-way merge); the generation moves.
    changed = SEED_MORE.replace("  retentionDays: 7\n", "").replace("  - mysql\n", "")
    assert "configured" in kubectl("apply", "-f", "-", stdin=changed).stdout
    again = json.loads(kubectl("get", "imc", "imagecache-sample-more-para", "-o", "json").stdout)
    assert again["spec"]["images"] == ["nginx"] and again["spec"]["retentionDays"] == 0
    assert again["metadata"]["generation"] == 2 and again["metadata"]["uid"] == more["metadata"]["uid"]
    # kubectl edit: the editor's change is an update (a merge patch).
    env_editor = subprocess.run([kubectl.binary, "--kubeconfig", kubectl.config, "--cache-dir", kubectl.cache, "edit", "imc",
                                 "imagecache-sample"], capture_output=True, text=True, timeout=60,
                                env=dict(os.environ, KUBE_EDITOR="sed -i s/imageCacheSize:\ 20/imageCacheSize:\ 25/"))
    assert env_editor.returncode == 0 and "edited" in env_editor.stdout, env_editor.stderr
    assert json.loads(kubectl("get", "imc", name, "-o", "json").stdout)["spec"]["imageCacheSize"] == 25
    # Server-side apply of the same object, then deletion, which kubectl waits for.
    assert "serverside-applied" in kubectl("apply", "--server-side", "-f", "-", stdin=SEED_MORE).stdout
    assert json.loads(kubectl("get", "imc", "imagecache-sample-more-para", "-o", "json").stdout)["spec"]["retentionDays"] == 7
    assert "deleted" in kubectl("delete", "-f", "-", stdin=SEED_SAMPLE + "---\n" + SEED_MORE).stdout
    missing = kubectl("get", "imc", name, check=False)
    assert missing.returncode == 1
    assert 'Error from server (NotFound): imagecaches.eks.cloud.tencent.com "imagecache-sample" not found' in missing.stderr


@pytest.mark.parametrize("body,named", [
    ("spec:\n  images: [nginx]\n  imageCacheSize: 10\n", "spec.imageCacheSize"),
    ("spec:\n  images: []\n", "spec.images"),
    ("spec:\n  images: ['UPPER CASE!']\n", "spec.images[0]"),
    ("spec:\n  images: [nginx]\n  colour: blue\n", 'unknown field "spec.colour"'),
])
def test_a_bad_object_is_refused_naming_the_field(kubectl, body, named):
    r = kubectl("apply", "-f", "-", stdin="apiVersion: eks.cloud.tencent.com/v1\nkind: ImageCache\nmetadata:\n  name: bad\n" + body,
                check=False)
    assert r.returncode != 0 and named in r.stderr, r.stderr
    assert kubectl("get", "imc", "bad", check=False).returncode == 1, "nothing was made"


def test_what_imc_cannot_do_says_so(kubectl):
    r = kubectl("patch", "imc", "nothing-here", "-p", '{"spec":{}}', check=False)
    assert r.returncode != 0 and "NotFound" in r.stderr
    r = kubectl("get", "deployments", check=False)
    assert r.returncode != 0 and "the server doesn't have a resource type" in r.stderr


def test_two_accounts_never_see_each_others_objects(server):
    mine = Kubectl(KUBECTLS[-1], kubeconfig(server))
    theirs = Kubectl(KUBECTLS[-1], kubeconfig(server, OTHER_ID, OTHER_KEY))
    mine("apply", "-f", "-", stdin=SEED_SAMPLE.replace("imagecache-sample", "private-cache"))
    assert "private-cache" not in theirs("get", "imc").stdout + theirs("get", "imc").stderr
    assert theirs("get", "imc", "private-cache", check=False).returncode == 1
    assert theirs("delete", "imc", "private-cache", check=False).returncode == 1
    # The same name is free in the other account.
    theirs("apply", "-f", "-", stdin=SEED_SAMPLE.replace("imagecache-sample", "private-cache"))
    mine_uid = json.loads(mine("get", "imc", "private-cache", "-o", "json").stdout)["metadata"]["uid"]
    theirs_uid = json.loads(theirs("get", "imc", "private-cache", "-o", "json").stdout)["metadata"]["uid"]
    assert mine_uid != theirs_uid
    # A forged token (the right SecretId, a wrong MAC) is refused.
    text = open(mine.config).read()
    token = [line.split()[1] for line in text.splitlines() if "token:" in line][0]
    path = mine.config + ".forged"
    with open(path, "w") as f:
        f.write(text.replace(token, token[:-4] + ("0000" if not token.endswith("0000") else "1111")))
    r = Kubectl(KUBECTLS[-1], path)("get", "imc", check=False)
    assert r.returncode == 1 and ("Unauthorized" in r.stderr or "provide credentials" in r.stderr), r.stderr
    mine("delete", "imc", "private-cache")
    theirs("delete", "imc", "private-cache")


def python_client(server, secret_id=ROOT_ID, secret_key=ROOT_KEY):
    configuration = k8s.Configuration()
    k8s_config.load_kube_config(config_file=kubeconfig(server, secret_id, secret_key), client_configuration=configuration)
    return k8s.CustomObjectsApi(k8s.ApiClient(configuration))


def test_the_python_client_creates_patches_lists_and_deletes(server, client):
    api = python_client(server)
    body = {"apiVersion": "eks.cloud.tencent.com/v1", "kind": "ImageCache", "metadata": {"name": "py-cache", "labels": {"team": "a"}},
            "spec": {"images": ["nginx:1.27"], "imageCacheSize": 25}}
    made = api.create_cluster_custom_object(GROUP, VERSION, PLURAL, body)
    assert made["status"]["imcId"].startswith("imc-") and made["metadata"]["resourceVersion"]
    with pytest.raises(ApiException) as e:
        api.create_cluster_custom_object(GROUP, VERSION, PLURAL, body)
    assert e.value.status == 409 and json.loads(e.value.body)["reason"] == "AlreadyExists"
    listed = api.list_cluster_custom_object(GROUP, VERSION, PLURAL, label_selector="team=a")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["py-cache"]
    assert api.list_cluster_custom_object(GROUP, VERSION, PLURAL, label_selector="team=b")["items"] == []
    patched = api.patch_cluster_custom_object(GROUP, VERSION, PLURAL, "py-cache", {"spec": {"retentionDays": 3}})
    assert patched["spec"]["retentionDays"] == 3 and patched["spec"]["imageCacheSize"] == 25
    # A stale resourceVersion is a Conflict.
    stale = dict(made, spec={"images": ["nginx:1.27"], "imageCacheSize": 25, "retentionDays": 4})
    with pytest.raises(ApiException) as e:
        api.replace_cluster_custom_object(GROUP, VERSION, PLURAL, "py-cache", stale)
    assert e.value.status == 409 and json.loads(e.value.body)["reason"] == "Conflict"
    # Made through the Cloud API, seen through Kubernetes.
    req = models.CreateImageCacheRequest()
    req.from_json_string(json.dumps({"Images": ["busybox"], "ImageCacheName": "from-cloud-api"}))
    cid = json.loads(client.CreateImageCache(req).to_json_string())["ImageCacheId"]
    seen = api.get_cluster_custom_object(GROUP, VERSION, PLURAL, "from-cloud-api")
    assert seen["status"]["imcId"] == cid and seen["spec"]["images"] == ["busybox"]
    # Pages: limit and continue, as kubectl and informers list.
    names = sorted(i["metadata"]["name"] for i in api.list_cluster_custom_object(GROUP, VERSION, PLURAL)["items"])
    first = api.list_cluster_custom_object(GROUP, VERSION, PLURAL, limit=1)
    assert [i["metadata"]["name"] for i in first["items"]] == names[:1] and first["metadata"]["remainingItemCount"] == len(names) - 1
    rest = api.list_cluster_custom_object(GROUP, VERSION, PLURAL, _continue=first["metadata"]["continue"])
    assert [i["metadata"]["name"] for i in rest["items"]] == names[1:] and "continue" not in rest["metadata"]
    api.delete_cluster_custom_object(GROUP, VERSION, PLURAL, "from-cloud-api")
    api.delete_cluster_custom_object(GROUP, VERSION, PLURAL, "py-cache")
    with pytest.raises(ApiException) as e:
        api.get_cluster_custom_object(GROUP, VERSION, PLURAL, "py-cache")
    assert e.value.status == 404


def test_a_watch_sees_a_cache_go_from_pending_to_ready_and_kubectl_waits_for_it(building_server, registry):
    api = python_client(building_server)
    start = api.list_cluster_custom_object(GROUP, VERSION, PLURAL)["metadata"]["resourceVersion"]
    seen = []

    def follow():
        w = k8s_watch.Watch()
        for event in w.stream(api.list_cluster_custom_object, GROUP, VERSION, PLURAL, resource_version=start, timeout_seconds=90):
            obj = event["object"]
            if obj["metadata"]["name"] != "watched":
                continue
            seen.append((event["type"], obj["status"]["imcPhase"]))
            if event["type"] == "DELETED":
                w.stop()

    t = threading.Thread(target=follow)
    t.start()
    kubectl = Kubectl(KUBECTLS[-1], kubeconfig(building_server))
    yaml = f"apiVersion: eks.cloud.tencent.com/v1\nkind: ImageCache\nmetadata:\n  name: watched\nspec:\n  images: ['{registry}/demo/hello:latest']\n"
    kubectl("apply", "-f", "-", stdin=yaml)
    waited = kubectl("wait", "--for=condition=Ready", "imagecache/watched", "--timeout=120s", timeout=130, check=False)
    assert "condition met" in waited.stdout, kubectl("get", "imc", "watched", "-o", "yaml").stdout + waited.stderr
    described = kubectl("describe", "imc", "watched").stdout
    assert "Events:" in described and "Ready" in described and "Pulled" in described
    kubectl("delete", "imc", "watched")
    t.join(timeout=100)
    assert seen[0] == ("ADDED", "Pending"), seen
    assert ("MODIFIED", "Ready") in seen and seen[-1][0] == "DELETED", seen


def test_pods_run_from_a_cache_with_events_logs_and_graceful_deletion(building_server, registry):
    kubectl = Kubectl(KUBECTLS[-1], kubeconfig(building_server))
    old = Kubectl(KUBECTLS[0], kubectl.config)
    image = f"{registry}/demo/app:latest"
    kubectl("apply", "-f", "-", stdin=f"apiVersion: eks.cloud.tencent.com/v1\nkind: ImageCache\nmetadata:\n  name: app\n"
                                        f"spec:\n  images: ['{image}']\n")
    assert "condition met" in kubectl("wait", "--for=condition=Ready", "imc/app", "--timeout=120s", timeout=130).stdout
    assert "namespace/team-a created" in old("create", "namespace", "team-a").stdout
    # A Namespace applied with labels keeps them; a field a Namespace has not is refused by its path.
    labelled = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-b\n  labels: {tier: gold}\n"
    assert "namespace/team-b created" in kubectl("apply", "-f", "-", stdin=labelled).stdout
    got = json.loads(kubectl("get", "namespace", "team-b", "-o", "json").stdout)
    assert got["metadata"]["labels"] == {"tier": "gold", "kubernetes.io/metadata.name": "team-b"}, got
    r = kubectl("apply", "-f", "-", stdin=labelled.replace("team-b", "team-c") + "spec: {colour: red}\n", check=False)
    assert r.returncode != 0 and 'unknown field "spec.colour"' in r.stderr, r.stderr
    kubectl("delete", "namespace", "team-b")
    # A Secret is read strictly too: stringData is folded into data; a field it has not is refused.
    plain = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: plain\nstringData: {token: abc}\n"
    assert "secret/plain created" in kubectl("-n", "team-a", "apply", "-f", "-", stdin=plain).stdout
    stored = json.loads(kubectl("-n", "team-a", "get", "secret", "plain", "-o", "json").stdout)
    assert stored["data"] == {"token": "YWJj"} and stored["type"] == "Opaque" and "stringData" not in stored, stored
    r = kubectl("-n", "team-a", "apply", "-f", "-", stdin=plain.replace("plain", "odd") + "colour: red\n", check=False)
    assert r.returncode != 0 and 'unknown field "colour"' in r.stderr, r.stderr
    assert "secret/regcred created" in kubectl("-n", "team-a", "create", "secret", "docker-registry", "regcred",
                                               f"--docker-server={registry}", "--docker-username=u", "--docker-password=p").stdout
    assert "kubernetes.io/dockerconfigjson" in kubectl("-n", "team-a", "get", "secrets").stdout
    ticker = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.3; done"
    kubectl("-n", "team-a", "run", "web", f"--image={image}", "--annotations=eks.tke.cloud.tencent.com/use-image-cache=auto",
            "--", "/bin/sh", "-c", ticker)
    assert "condition met" in kubectl("-n", "team-a", "wait", "--for=condition=Ready", "pod/web", "--timeout=60s", timeout=70).stdout
    table = kubectl("-n", "team-a", "get", "pods").stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"] and table[1].split()[:4] == ["web", "1/1", "Running", "0"]
    assert "IP" in old("-n", "team-a", "get", "pods", "-o", "wide").stdout.splitlines()[0]
    # Labels and annotations change in place, by old and new kubectl; the spec and the annotations
    # read when the Pod was made do not.
    assert "pod/web labeled" in old("-n", "team-a", "label", "pod", "web", "tier=front").stdout
    assert "pod/web annotated" in kubectl("-n", "team-a", "annotate", "pod", "web", "owner=ops").stdout
    assert kubectl("-n", "team-a", "get", "pods", "-l", "tier=front", "-o", "name").stdout.split() == ["pod/web"]
    r = kubectl("-n", "team-a", "label", "pod", "web", "tier=back", check=False)
    assert r.returncode != 0 and "already has a value" in r.stderr, r.stderr
    assert "pod/web labeled" in kubectl("-n", "team-a", "label", "pod", "web", "tier=back", "--overwrite").stdout
    assert "pod/web unlabeled" in kubectl("-n", "team-a", "label", "pod", "web", "tier-").stdout
    kubectl("-n", "team-a", "patch", "pod", "web", "--type", "merge", "-p", '{"metadata":{"labels":{"app":"web"}}}')
    meta = json.loads(kubectl("-n", "team-a", "get", "pod", "web", "-o", "json").stdout)["metadata"]
    assert meta["labels"].get("app") == "web" and "tier" not in meta["labels"] and meta["annotations"]["owner"] == "ops", meta
    r = kubectl("-n", "team-a", "label", "pod", "web", "bad key=x", check=False)
    assert r.returncode != 0, r.stderr
    r = kubectl("-n", "team-a", "annotate", "pod", "web", "--overwrite", "eks.tke.cloud.tencent.com/use-image-cache=off", check=False)
    assert r.returncode != 0 and "eks.tke.cloud.tencent.com/use-image-cache" in r.stderr and "Forbidden" in r.stderr, r.stderr
    r = kubectl("-n", "team-a", "patch", "pod", "web", "--type", "json",
                "-p", '[{"op":"replace","path":"/spec/containers/0/image","value":"other"}]', check=False)
    assert r.returncode != 0 and "spec" in r.stderr and "Forbidden" in r.stderr, r.stderr
    # kubectl apply of a Pod manifest on a VPC (the annotations a virtual node's Pods carry), with
    # its pull secret resolved on the server.
    pod_yaml = (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: on-vpc\n  annotations:\n"
                f"    eks.tke.cloud.tencent.com/use-image-cache: auto\n    eks.tke.cloud.tencent.com/vpc-id: vpc-k8s\n"
                f"    eks.tke.cloud.tencent.com/security-group-id: sg-1\n"
                f"spec:\n  imagePullSecrets: [{{name: regcred}}]\n  containers:\n  - name: main\n    image: {image}\n"
                f"    command: [/bin/sh, -c, 'echo up; sleep 60']\n")
    assert "pod/on-vpc created" in kubectl("-n", "team-a", "apply", "-f", "-", stdin=pod_yaml).stdout
    kubectl("-n", "team-a", "wait", "--for=condition=Ready", "pod/on-vpc", "--timeout=60s", timeout=70)
    wide = kubectl("-n", "team-a", "get", "pod", "on-vpc", "-o", "wide").stdout.splitlines()
    assert wide[1].split()[5].startswith("10."), wide
    on_vpc = json.loads(kubectl("-n", "team-a", "get", "pod", "on-vpc", "-o", "json").stdout)
    assert on_vpc["status"]["podIP"] == wide[1].split()[5]
    bad = pod_yaml.replace("name: on-vpc", "name: bad-sg").replace("security-group-id: sg-1", "security-group-id: sg-nope")
    r = kubectl("-n", "team-a", "apply", "-f", "-", stdin=bad, check=False)
    assert r.returncode != 0 and "security-group-id" in r.stderr and "sg-nope" in r.stderr, r.stderr
    # A field imc does not act on is refused by its path, as the API server's strict decoding does,
    # and a volume imc has not (a persistent volume claim) is refused rather than the Pod run without it;
    # by old and new kubectl.
    probed = pod_yaml.replace("name: on-vpc", "name: probed") + "    lifecycle: {preStop: {exec: {command: [/bin/true]}}}\n"
    with_volume = pod_yaml.replace("name: on-vpc", "name: with-volume") + "  volumes: [{name: share, persistentVolumeClaim: {claimName: data}}]\n"
    for binary in (KUBECTLS[0], KUBECTLS[-1]):
        other = Kubectl(binary, kubectl.config)
        r = other("-n", "team-a", "apply", "-f", "-", stdin=probed, check=False)
        assert r.returncode != 0 and 'unknown field "spec.containers[0].lifecycle"' in r.stderr, r.stderr
        r = other("-n", "team-a", "apply", "-f", "-", stdin=with_volume, check=False)
        assert r.returncode != 0 and "spec.volumes[0].persistentVolumeClaim" in r.stderr and "no persistent volumes" in r.stderr, \
            r.stderr
    assert "probed" not in kubectl("-n", "team-a", "get", "pods").stdout
    kubectl("-n", "team-a", "delete", "pod", "on-vpc", "--grace-period=0")
    described = kubectl("-n", "team-a", "describe", "pod", "web").stdout
    assert "ImageCacheUsed" in described and "matched 1 of 1 image" in described, described
    # logs -f follows what the container writes while it writes it.
    follow = subprocess.Popen([kubectl.binary, "--kubeconfig", kubectl.config, "-n", "team-a", "logs", "-f", "web", "--tail=1"],
                              stdout=subprocess.PIPE, text=True)
    first = follow.stdout.readline()
    started = time.time()
    later = [follow.stdout.readline() for _ in range(4)]
    follow.kill()
    assert first.startswith("tick") and all(line.startswith("tick") for line in later) and time.time() - started >= 0.6, later
    assert int(later[-1].split()[1]) > int(first.split()[1])
    assert kubectl("-n", "team-a", "logs", "web", "--tail=1").stdout.count("tick") == 1
    # --timestamps puts when each line was written before it; --since and --since-time choose by it.
    stamped = kubectl("-n", "team-a", "logs", "web", "--timestamps", "--tail=2").stdout.splitlines()
    assert len(stamped) == 2 and all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z tick \d+", l) for l in stamped), stamped
    everything = kubectl("-n", "team-a", "logs", "web").stdout.splitlines()
    recent = kubectl("-n", "team-a", "logs", "web", "--since=1s").stdout.splitlines()
    assert 0 < len(recent) < len(everything) and recent[-1].startswith("tick"), (len(recent), len(everything))
    # (kubectl sends --since-time to the second, as metav1.Time is written.)
    since = stamped[-1].split()[0]
    after = old("-n", "team-a", "logs", "web", f"--since-time={since}").stdout.splitlines()
    assert stamped[-1].split(" ", 1)[1] in after and stamped[0].split(" ", 1)[1] in everything, (after, stamped)
    second = since.split(".")[0]
    first_after = kubectl("-n", "team-a", "logs", "web", "--timestamps", f"--since-time={since}").stdout.splitlines()[0]
    assert first_after.split(".")[0] >= second and len(after) < len(everything), (first_after, second)
    r = kubectl("-n", "team-a", "logs", "web", "--since-time=yesterday", check=False)
    assert r.returncode != 0, r.stderr
    # Events: a table as the API server prints it, and a watch that tells each event of one Pod
    # as it is recorded.
    table = kubectl("-n", "team-a", "get", "events", "--field-selector", "involvedObject.name=web").stdout.splitlines()
    assert table[0].split()[:4] == ["LAST", "SEEN", "TYPE", "REASON"] and any("pod/web" in l and "Started" in l for l in table), table
    for binary in (KUBECTLS[0], KUBECTLS[-1]):
        watcher = subprocess.Popen([binary, "--kubeconfig", kubectl.config, "-n", "team-a", "get", "events", "-w",
                                    "--field-selector", "involvedObject.name=watched"], stdout=subprocess.PIPE, text=True)
        try:
            kubectl("-n", "team-a", "run", "watched", f"--image={image}", "--restart=Never",
                    "--annotations=eks.tke.cloud.tencent.com/use-image-cache=auto", "--", "/bin/sh", "-c", "sleep 30")
            seen = []
            while not any("Started" in l for l in seen):
                line = watcher.stdout.readline()
                assert line, seen
                seen.append(line)
            assert all("pod/watched" in l for l in seen[1:]) and any("Scheduled" in l for l in seen), seen
            assert len([l for l in seen if "Started" in l]) == 1, seen
        finally:
            watcher.kill()
            kubectl("-n", "team-a", "delete", "pod", "watched", "--grace-period=0", timeout=60)
    r = kubectl("-n", "team-a", "logs", "web", "--previous", check=False)
    assert r.returncode != 0 and "previous terminated container" in r.stderr
    assert kubectl("-n", "team-a", "exec", "web", "--", "/bin/sh", "-c", "echo inside").stdout == "inside\n"
    # Another account sees neither the Pod nor the namespace's secret.
    theirs = Kubectl(KUBECTLS[-1], kubeconfig(building_server, OTHER_ID, OTHER_KEY))
    assert "web" not in theirs("get", "pods", "-A").stdout
    assert theirs("-n", "team-a", "get", "secret", "regcred", check=False).returncode == 1
    # A Pod made through kubectl is an instance of the Cloud API.
    client = make_client(building_server)
    instances = json.loads(client.DescribeEKSContainerInstances(models.DescribeEKSContainerInstancesRequest()).to_json_string())
    assert "web" in [i["EksCiName"] for i in instances["EksCis"]]
    begun = time.time()
    assert 'pod "web" deleted' in kubectl("-n", "team-a", "delete", "pod", "web", "--grace-period=1", timeout=60).stdout
    assert time.time() - begun < 20, "the grace period asked for, not the Pod's 30 s"
    assert kubectl("-n", "team-a", "get", "pod", "web", check=False).returncode == 1
    kubectl("delete", "namespace", "team-a")
    kubectl("delete", "imc", "app")


def test_the_python_client_runs_a_pod_and_reads_its_log(building_server, registry):
    configuration = k8s.Configuration()
    k8s_config.load_kube_config(config_file=kubeconfig(building_server), client_configuration=configuration)
    core = k8s.CoreV1Api(k8s.ApiClient(configuration))
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "py-pod", "labels": {"app": "py"}},
           "spec": {"restartPolicy": "Never",
                    "containers": [{"name": "main", "image": f"{registry}/demo/app:latest", "command": ["/bin/sh", "-c", "echo from-python"]}]}}
    made = core.create_namespaced_pod("default", pod)
    assert made.metadata.name == "py-pod" and made.metadata.namespace == "default"
    deadline = time.time() + 60
    while core.read_namespaced_pod("py-pod", "default").status.phase not in ("Succeeded", "Failed") and time.time() < deadline:
        time.sleep(0.2)
    got = core.read_namespaced_pod("py-pod", "default")
    assert got.status.phase == "Succeeded" and got.status.container_statuses[0].state.terminated.exit_code == 0
    assert core.read_namespaced_pod_log("py-pod", "default") == "from-python\n"
    assert [p.metadata.name for p in core.list_namespaced_pod("default", label_selector="app=py").items] == ["py-pod"]
    with pytest.raises(ApiException) as e:
        core.create_namespaced_pod("default", pod)
    assert e.value.status == 409
    core.delete_namespaced_pod("py-pod", "default", grace_period_seconds=0)


def test_an_image_caches_pull_secrets_resolve_on_the_server(server, client):
    kubectl = Kubectl(KUBECTLS[-1], kubeconfig(server))
    kubectl("delete", "secret", "regcred", "--ignore-not-found")
    kubectl("create", "secret", "docker-registry", "regcred", "--docker-server=registry.example.com",
            "--docker-username=puller", "--docker-password=s3cret")
    yaml = ("apiVersion: eks.cloud.tencent.com/v1\nkind: ImageCache\nmetadata:\n  name: private\nspec:\n"
            "  images: [registry.example.com/team/app:v1]\n  imagePullSecrets: [default/regcred, default/absent]\n")
    r = kubectl("apply", "-f", "-", stdin=yaml)
    assert "imagePullSecrets default/absent not found" in r.stderr, r.stderr
    cid = json.loads(kubectl("get", "imc", "private", "-o", "json").stdout)["status"]["imcId"]
    req = models.DescribeImageCachesRequest()
    req.from_json_string(json.dumps({"ImageCacheIds": [cid]}))
    cache = json.loads(client.DescribeImageCaches(req).to_json_string())["ImageCaches"][0]
    creds = cache["ImageRegistryCredentials"]
    assert [(c["Server"], c["Username"]) for c in creds] == [("registry.example.com", "puller")], creds
    assert "s3cret" not in json.dumps(cache) and "s3cret" not in kubectl("get", "imc", "private", "-o", "yaml").stdout
    kubectl("delete", "imc", "private")
    kubectl("delete", "secret", "regcred")


ENV_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: envy}}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: {image}
    command: [/bin/sh, -c, 'env | sort; sleep 30']
    resources: {{requests: {{cpu: 500m, memory: 256Mi}}}}
    envFrom:
    - configMapRef: {{name: settings}}
      prefix: CFG_
    env:
    - {{name: POD_NAME, valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}}}
    - {{name: POD_NS, valueFrom: {{fieldRef: {{fieldPath: metadata.namespace}}}}}}
    - {{name: APP, valueFrom: {{fieldRef: {{fieldPath: "metadata.labels['app']"}}}}}}
    - {{name: NODE, valueFrom: {{fieldRef: {{fieldPath: spec.nodeName}}}}}}
    - {{name: MILLICORES, valueFrom: {{resourceFieldRef: {{resource: requests.cpu, divisor: 1m}}}}}}
    - {{name: MEBIBYTES, valueFrom: {{resourceFieldRef: {{resource: limits.memory, divisor: 1Mi}}}}}}
    - {{name: COLOUR, valueFrom: {{configMapKeyRef: {{name: settings, key: colour}}}}}}
    - {{name: TOKEN, valueFrom: {{secretKeyRef: {{name: {secret}, key: token}}}}}}
    - {{name: MAYBE, valueFrom: {{secretKeyRef: {{name: absent, key: k, optional: true}}}}}}
"""


def test_a_pods_environment_comes_from_its_fields_resources_configmaps_and_secrets(building_server, registry):
    """env[].valueFrom and envFrom, resolved on the server when the container starts; a Secret that
    is not there yet holds the container in CreateContainerConfigError until it is created."""
    kubectl = Kubectl(KUBECTLS[-1], kubeconfig(building_server))
    old = Kubectl(KUBECTLS[0], kubectl.config)
    image = f"{registry}/demo/app:latest"
    kubectl("create", "namespace", "env-a")
    try:
        # ConfigMaps: created by old and new kubectl (protobuf bodies), applied, listed, patched.
        assert "configmap/settings created" in old("-n", "env-a", "create", "configmap", "settings",
                                                    "--from-literal=colour=blue", "--from-literal=size=3").stdout
        table = kubectl("-n", "env-a", "get", "configmaps").stdout.splitlines()
        assert table[0].split() == ["NAME", "DATA", "AGE"] and table[1].split()[:2] == ["settings", "2"], table
        applied = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: applied}\ndata: {a: '1'}\n"
        assert "configmap/applied created" in kubectl("-n", "env-a", "apply", "-f", "-", stdin=applied).stdout
        assert "configured" in kubectl("-n", "env-a", "apply", "-f", "-", stdin=applied.replace("'1'", "'2'")).stdout
        assert json.loads(kubectl("-n", "env-a", "get", "cm", "applied", "-o", "json").stdout)["data"] == {"a": "2"}
        r = kubectl("-n", "env-a", "apply", "-f", "-", stdin=applied.replace("{a: '1'}", "{'bad key': x}"), check=False)
        assert r.returncode != 0 and "bad key" in r.stderr, r.stderr
        r = kubectl("-n", "env-a", "apply", "-f", "-", stdin=applied.replace("metadata:", "colour: red\nmetadata:"), check=False)
        assert r.returncode != 0 and 'unknown field "colour"' in r.stderr, r.stderr
        kubectl("-n", "env-a", "delete", "configmap", "applied")
        # A field imc cannot give is refused by its path at creation.
        bad = ENV_POD.format(name="bad", image=image, secret="token").replace("spec.nodeName", "status.hostIP")
        r = kubectl("-n", "env-a", "apply", "-f", "-", stdin=bad, check=False)
        assert r.returncode != 0 and "spec.containers[0].env[3].valueFrom.fieldRef.fieldPath" in r.stderr, r.stderr
        # The Secret it names is not there: the container waits, saying why.
        kubectl("-n", "env-a", "apply", "-f", "-", stdin=ENV_POD.format(name="envy", image=image, secret="token"))
        deadline = time.time() + 60
        while True:
            pod = json.loads(kubectl("-n", "env-a", "get", "pod", "envy", "-o", "json").stdout)
            waiting = (pod["status"].get("containerStatuses") or [{}])[0].get("state", {}).get("waiting", {})
            if waiting.get("reason") == "CreateContainerConfigError":
                break
            assert time.time() < deadline, pod["status"]
            time.sleep(0.2)
        assert 'secret "token" not found' in waiting.get("message", ""), waiting
        assert pod["status"]["phase"] == "Pending"
        assert "CreateContainerConfigError" in kubectl("-n", "env-a", "get", "pod", "envy").stdout
        described = kubectl("-n", "env-a", "describe", "pod", "envy").stdout
        assert 'Error: secret "token" not found' in described, described
        kubectl("-n", "env-a", "create", "secret", "generic", "token", "--from-literal=token=s3cret")
        kubectl("-n", "env-a", "wait", "--for=condition=Ready", "pod/envy", "--timeout=60s", timeout=70)
        deadline = time.time() + 30
        while "TOKEN=" not in (out := kubectl("-n", "env-a", "logs", "envy").stdout):
            assert time.time() < deadline, out
            time.sleep(0.2)
        env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        node = json.loads(kubectl("-n", "env-a", "get", "pod", "envy", "-o", "json").stdout)["spec"]["nodeName"]
        assert env["POD_NAME"] == "envy" and env["POD_NS"] == "env-a" and env["APP"] == "envy" and env["NODE"] == node, env
        assert env["MILLICORES"] == "500" and env["MEBIBYTES"] == "256", env
        assert env["COLOUR"] == "blue" and env["CFG_colour"] == "blue" and env["CFG_size"] == "3", env
        assert env["TOKEN"] == "s3cret" and "MAYBE" not in env, env
        # The Pod as served says where each value comes from, never the Secret's value.
        served = json.loads(kubectl("-n", "env-a", "get", "pod", "envy", "-o", "json").stdout)["spec"]["containers"][0]
        assert served["env"][7] == {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "token", "key": "token"}}}, served["env"]
        assert served["envFrom"] == [{"prefix": "CFG_", "configMapRef": {"name": "settings"}}]
        assert "s3cret" not in json.dumps(served)
        kubectl("-n", "env-a", "delete", "pod", "envy", "--grace-period=0", timeout=60)
    finally:
        kubectl("delete", "namespace", "env-a", check=False, timeout=60)


VOLUME_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: vols
  labels: {{app: vols}}
spec:
  restartPolicy: Never
  volumes:
  - {{name: work, emptyDir: {{}}}}
  - {{name: fast, emptyDir: {{medium: Memory, sizeLimit: 1Mi}}}}
  - {{name: conf, configMap: {{name: app-conf, items: [{{key: colour, path: sub/colour.txt}}], defaultMode: 0440}}}}
  - {{name: whole, configMap: {{name: app-conf}}}}
  - {{name: creds, secret: {{secretName: app-secret, defaultMode: 0400}}}}
  - {{name: info, downwardAPI: {{items: [{{path: labels, fieldRef: {{fieldPath: metadata.labels}}}},
                                       {{path: cpu, resourceFieldRef: {{containerName: main, resource: limits.cpu, divisor: 1m}}}}]}}}}
  - {{name: all, projected: {{sources: [{{configMap: {{name: app-conf}}}}, {{secret: {{name: app-secret}}}},
                                      {{downwardAPI: {{items: [{{path: name, fieldRef: {{fieldPath: metadata.name}}}}]}}}}]}}}}
  initContainers:
  - name: prepare
    image: {image}
    command: [/bin/sh, -c, 'echo from-init > /work/made; ln -s / /work/escape']
    volumeMounts: [{{name: work, mountPath: /work}}]
  containers:
  - name: main
    image: {image}
    resources: {{requests: {{cpu: 250m}}}}
    command:
    - /bin/sh
    - -c
    - |
      echo "made=$(cat /work/made)"
      echo "colour=$(cat /conf/sub/colour.txt)"
      echo "mode=$(stat -L -c %a /conf/sub/colour.txt) $(stat -L -c %a /creds/token)"
      echo "token=$(cat /creds/token)"
      echo "labels=$(cat /info/labels)"
      echo "cpu=$(cat /info/cpu)"
      echo "projected=$(cat /all/colour)/$(cat /all/token)/$(cat /all/name)"
      echo "single=$(cat /etc/colour.conf)"
      touch /conf/x 2>/dev/null && echo conf-writable || echo conf-readonly
      touch /work/ro-check 2>/dev/null && echo work-readonly-broken || echo work-readonly
      echo "escape=$(ls /escaped | sort | tr '\\n' ' ')"
      echo "fast=$(df -k /fast | tail -1 | awk '{{print $2}}')"
      dd if=/dev/zero of=/fast/big bs=1024 count=2048 2>/dev/null && echo fast-unbounded || echo fast-bounded
      echo ready
      while true; do echo "now=$(cat /whole/colour)"; sleep 0.5; done
    volumeMounts:
    - {{name: work, mountPath: /work, readOnly: true}}
    - {{name: work, mountPath: /escaped, subPath: escape}}
    - {{name: fast, mountPath: /fast}}
    - {{name: conf, mountPath: /conf}}
    - {{name: whole, mountPath: /whole}}
    - {{name: whole, mountPath: /etc/colour.conf, subPath: colour}}
    - {{name: creds, mountPath: /creds}}
    - {{name: info, mountPath: /info}}
    - {{name: all, mountPath: /all}}
"""


def test_a_pods_volumes_emptydir_configmap_secret_downward_and_projected(building_server, registry):
    kubectl = Kubectl(KUBECTLS[-1], kubeconfig(building_server))
    old = Kubectl(KUBECTLS[0], kubectl.config)
    image = f"{registry}/demo/app:latest"
    kubectl("create", "namespace", "vol-a")
    try:
        kubectl("-n", "vol-a", "create", "configmap", "app-conf", "--from-literal=colour=blue")
        kubectl("-n", "vol-a", "create", "secret", "generic", "app-secret", "--from-literal=token=s3cret")
        # What would reach the node, or what imc has not, is refused by its field, by old and new kubectl.
        for bad, named in [
            ("  - {name: work, emptyDir: {}}", "  - {name: work, hostPath: {path: /etc}}"),
            ("  - {name: work, emptyDir: {}}", "  - {name: work, nfs: {server: 10.0.0.1, path: /a/../b}}"),
            ("    - {name: fast, mountPath: /fast}", "    - {name: nope, mountPath: /fast}"),
            ("    - {name: fast, mountPath: /fast}", "    - {name: fast, mountPath: /proc/x}"),
            ("    - {name: work, mountPath: /escaped, subPath: escape}", "    - {name: work, mountPath: /escaped, subPath: ../x}"),
        ]:
            manifest = VOLUME_POD.format(image=image).replace(bad, named)
            for k in (kubectl, old):
                r = k("-n", "vol-a", "apply", "-f", "-", stdin=manifest, check=False)
                assert r.returncode != 0 and "spec." in r.stderr, (named, r.stderr)
        assert "vols" not in kubectl("-n", "vol-a", "get", "pods").stdout
        kubectl("-n", "vol-a", "apply", "-f", "-", stdin=VOLUME_POD.format(image=image))
        kubectl("-n", "vol-a", "wait", "--for=condition=Ready", "pod/vols", "--timeout=90s", timeout=100)
        deadline = time.time() + 30
        while "now=" not in (out := kubectl("-n", "vol-a", "logs", "vols").stdout):
            assert time.time() < deadline, out
            time.sleep(0.2)
        seen = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        assert seen["made"] == "from-init", out
        assert seen["colour"] == "blue" and seen["mode"] == "440 400" and seen["token"] == "s3cret", out
        assert seen["labels"] == 'app="vols"' and seen["cpu"] == "250", out
        assert seen["projected"] == "blue/s3cret/vols" and seen["single"] == "blue", out
        assert "conf-readonly" in out and "work-readonly" in out and "fast-bounded" in out, out
        # The symlink the init container planted to / resolved inside its volume, not the host's root.
        assert "escape" in seen["escape"] and "made" in seen["escape"] and "etc" not in seen["escape"].split(), out
        assert 0 < int(seen["fast"]) <= 1024, out
        # A ConfigMap changed: the file a container reads changes in place.
        kubectl("-n", "vol-a", "patch", "configmap", "app-conf", "--type", "merge", "-p", '{"data":{"colour":"green"}}')
        deadline = time.time() + 20
        while "now=green" not in kubectl("-n", "vol-a", "logs", "vols", "--tail=1").stdout:
            assert time.time() < deadline, kubectl("-n", "vol-a", "logs", "vols", "--tail=3").stdout
            time.sleep(0.3)
        served = json.loads(kubectl("-n", "vol-a", "get", "pod", "vols", "-o", "json").stdout)["spec"]
        assert [v["name"] for v in served["volumes"]] == ["work", "fast", "conf", "whole", "creds", "info", "all"]
        assert served["volumes"][4]["secret"] == {"secretName": "app-secret", "defaultMode": 0o400}
        assert served["containers"][0]["volumeMounts"][1] == {"name": "work", "mountPath": "/escaped", "subPath": "escape"}
        assert "vols" in kubectl("-n", "vol-a", "label", "pod", "vols", "checked=yes").stdout
        kubectl("-n", "vol-a", "delete", "pod", "vols", "--grace-period=0", timeout=60)
        # A disk emptyDir past its sizeLimit: the Pod is evicted, as the kubelet evicts it.
        greedy = ("apiVersion: v1\nkind: Pod\nmetadata: {name: greedy}\nspec:\n  restartPolicy: Never\n"
                  "  volumes: [{name: scratch, emptyDir: {sizeLimit: 1Mi}}]\n  containers:\n  - name: main\n"
                  f"    image: {image}\n    command: [/bin/sh, -c, 'dd if=/dev/zero of=/s/big bs=1024 count=4096; sleep 60']\n"
                  "    volumeMounts: [{name: scratch, mountPath: /s}]\n")
        kubectl("-n", "vol-a", "apply", "-f", "-", stdin=greedy)
        deadline = time.time() + 60
        while (pod := json.loads(kubectl("-n", "vol-a", "get", "pod", "greedy", "-o", "json").stdout))["status"]["phase"] != "Failed":
            assert time.time() < deadline, pod["status"]
            time.sleep(0.3)
        assert "exceeds the limit" in pod["status"].get("message", ""), pod["status"]
        assert "Evicted" in kubectl("-n", "vol-a", "describe", "pod", "greedy").stdout
        kubectl("-n", "vol-a", "delete", "pod", "greedy", "--grace-period=0", timeout=60)
    finally:
        kubectl("delete", "namespace", "vol-a", check=False, timeout=60)


PROBED_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: probed
spec:
  restartPolicy: Always
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: {image}
    ports: [{{name: http, containerPort: 8080}}]
    command: [/bin/sh, -c, 'mkdir -p /www; echo ok > /www/index.html; sleep 2; exec httpd -f -p 8080 -h /www']
    readinessProbe: {{httpGet: {{path: /index.html, port: http}}, periodSeconds: 1}}
    livenessProbe: {{tcpSocket: {{port: 8080}}, initialDelaySeconds: 4, periodSeconds: 1, failureThreshold: 2}}
  - name: flaky
    image: {image}
    command: [/bin/sh, -c, 'touch /tmp/alive; sleep 3; rm /tmp/alive; sleep 600']
    livenessProbe: {{exec: {{command: [cat, /tmp/alive]}}, periodSeconds: 1, failureThreshold: 2}}
"""


def test_probes_make_a_pod_ready_and_restart_a_container_that_fails_its_liveness(building_server, registry):
    kubectl = Kubectl(KUBECTLS[-1], kubeconfig(building_server))
    image = f"{registry}/demo/app:latest"
    try:
        for bad, named in [("periodSeconds: 1}\n    livenessProbe", "periodSeconds: 0}\n    livenessProbe"),
                           ("port: http}", "port: nope}"), ("tcpSocket: {port: 8080}", "grpc: {port: 8080}")]:
            manifest = PROBED_POD.format(image=image)
            assert bad in manifest, bad
            r = kubectl("apply", "-f", "-", stdin=manifest.replace(bad, named, 1), check=False)
            assert r.returncode != 0 and "Probe" in r.stderr, (named, r.stderr)
        kubectl("apply", "-f", "-", stdin=PROBED_POD.format(image=image))
        # Running but not Ready until the readiness probe's GET (from inside the Pod) answers.
        deadline = time.time() + 60
        seen_unready = False
        while True:
            pod = json.loads(kubectl("get", "pod", "probed", "-o", "json").stdout)
            statuses = {c["name"]: c for c in pod["status"].get("containerStatuses", [])}
            web = statuses.get("web", {})
            if "running" in web.get("state", {}) and not web.get("ready"):
                seen_unready = True
            if web.get("ready"):
                break
            assert time.time() < deadline, pod["status"]
            time.sleep(0.2)
        assert seen_unready, "web ran before its probe passed"
        # flaky's liveness fails once /tmp/alive is gone: killed and started again, with events.
        deadline = time.time() + 60
        while statuses.get("flaky", {}).get("restartCount", 0) < 1:
            assert time.time() < deadline, statuses
            time.sleep(0.3)
            statuses = {c["name"]: c for c in json.loads(kubectl("get", "pod", "probed", "-o", "json").stdout)["status"]["containerStatuses"]}
        described = kubectl("describe", "pod", "probed").stdout
        assert "Unhealthy" in described and "Liveness probe failed" in described, described
        assert "failed liveness probe, will be restarted" in described, described
        assert statuses["web"]["restartCount"] == 0 and statuses["web"]["ready"], statuses
        served = json.loads(kubectl("get", "pod", "probed", "-o", "json").stdout)["spec"]["containers"][0]
        assert served["readinessProbe"]["httpGet"]["path"] == "/index.html" and served["readinessProbe"]["periodSeconds"] == 1
    finally:
        kubectl("delete", "pod", "probed", "--grace-period=0", timeout=60)


def on_a_terminal(argv, rows, columns):
    """Runs argv on a pseudo-terminal of the given size; what it wrote there, and its exit code."""
    import fcntl, pty, struct, termios
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(argv[0], argv)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    said = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        said += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return said.decode(errors="replace"), os.waitstatus_to_exitcode(status)


EXEC_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: shell
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {image}
    command: [/bin/sh, -c, 'echo started; while true; do echo tick; sleep 1; done']
    env: [{{name: GREETING, value: hello}}]
"""


def test_kubectl_exec_runs_commands_in_a_pods_container_and_attach_shows_its_output(building_server, registry):
    newest = Kubectl(KUBECTLS[-1], kubeconfig(building_server))
    oldest = Kubectl(KUBECTLS[0], kubeconfig(building_server))
    other = Kubectl(KUBECTLS[-1], kubeconfig(building_server, OTHER_ID, OTHER_KEY))
    try:
        newest("apply", "-f", "-", stdin=EXEC_POD.format(image=f"{registry}/demo/app:latest"))
        newest("wait", "--for=condition=Ready", "pod/shell", "--timeout=60s")
        # A command in the container's namespaces and walls: its environment, its own view of
        # the processes, its user namespace (root inside is not root outside).
        r = newest("exec", "shell", "--", "/bin/sh", "-c", "echo $GREETING; cat /proc/self/uid_map; ps -o pid,args | head -3")
        out = r.stdout.splitlines()
        assert out[0] == "hello", r.stdout
        inside, outside, count = out[1].split()
        assert inside == "0" and outside != "0", out[1]
        assert any("while true" in line for line in out), r.stdout
        # The exit code is kubectl's; output and errors apart.
        r = newest("exec", "shell", "--", "/bin/sh", "-c", "echo out; echo err >&2; exit 7", check=False)
        assert r.returncode == 7 and r.stdout == "out\n" and "err" in r.stderr, (r.returncode, r.stdout, r.stderr)
        # Input, to its end (v5's close of stdin).
        r = newest("exec", "-i", "shell", "--", "/bin/sh", "-c", "wc -c", stdin="x" * 1000000)
        assert r.stdout.split()[0] == "1000000", r.stdout
        r = newest("exec", "-i", "shell", "--", "/bin/sh", "-c", 'read line; echo "got $line"', stdin="quiet please\n")
        assert r.stdout == "got quiet please\n", r.stdout
        # A terminal: the command sees one, the size of kubectl's own (a resize message).
        said, code = on_a_terminal([newest.binary, "--kubeconfig", newest.config, "exec", "-i", "-t", "shell", "--",
                                    "/bin/sh", "-c", "test -t 0 && echo terminal; stty size; exit 3"], rows=33, columns=101)
        assert "terminal" in said and "33 101" in said and code == 3, (said, code)
        # What cannot run says why; another account's Pod is not found.
        r = newest("exec", "shell", "--", "/no/such/thing", check=False)
        assert r.returncode != 0 and "no/such/thing" in (r.stdout + r.stderr), (r.stdout, r.stderr)
        r = newest("exec", "shell", "-c", "nope", "--", "true", check=False)
        assert r.returncode != 0 and "nope" in r.stderr, r.stderr
        r = other("exec", "shell", "--", "true", check=False)
        assert r.returncode != 0 and "NotFound" in r.stderr, r.stderr
        # kubectl 1.30 speaks WebSocket too; 1.27 speaks SPDY: told which kubectl to use.
        kubectl_130 = os.path.join(KUBECTL_DIR, "kubectl.1.30")
        if os.path.exists(kubectl_130):
            assert Kubectl(kubectl_130, newest.config)("exec", "shell", "--", "/bin/sh", "-c", "echo 1.30").stdout == "1.30\n"
        r = oldest("exec", "shell", "--", "true", check=False)
        assert r.returncode != 0 and "WebSocket" in r.stderr and "1.30" in r.stderr, r.stderr
        # attach shows what the container writes from now on.
        proc = subprocess.Popen([newest.binary, "--kubeconfig", newest.config, "attach", "shell"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            assert line.strip() == "tick", line
        finally:
            proc.kill()
            proc.wait()
        r = newest("attach", "-i", "shell", check=False)
        assert r.returncode != 0 and "input" in r.stderr, r.stderr
        r = newest("port-forward", "shell", "8080:8080", check=False, timeout=30)
        assert r.returncode != 0 and "port" in r.stderr, r.stderr
        # Hostile upgrades get answers (or a closed connection) and the service goes on.
        import socket as sockets
        token = re.search(r"token: (\S+)", open(newest.config).read()).group(1)
        path = "/k8s/api/v1/namespaces/default/pods/shell/exec?command=true&stdout=true"
        for upgrade, extra, tail in [("websocket", "", b""), ("h2c", "", b""), ("SPDY/3.1", "", b""),
                                     ("websocket", "Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n", b"\x81\x05hello" * 50),
                                     ("websocket, SPDY/3.1", "", b"")]:
            with sockets.create_connection(("127.0.0.1", building_server["port"]), timeout=10) as conn:
                conn.sendall((f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}0\r\nConnection: Upgrade\r\n"
                              f"Upgrade: {upgrade}\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                              f"{extra}\r\n").encode() + tail)
                answer = conn.recv(4096)
                assert not answer.startswith(b"HTTP/1.1 101"), (upgrade, answer)
        assert newest("get", "pod", "shell", "-o", "name").stdout.strip() == "pod/shell"
    finally:
        newest("delete", "pod", "shell", "--grace-period=0", timeout=60)


def test_a_pods_eip_annotation_gives_it_an_eip_or_is_refused_by_name(building_server, registry):
    kubectl = Kubectl(KUBECTLS[-1], kubeconfig(building_server))
    pod = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: public\n  annotations:\n"
           "    eks.tke.cloud.tencent.com/vpc-id: vpc-pub\n    eks.tke.cloud.tencent.com/subnet-id: subnet-pub\n"
           "    eks.tke.cloud.tencent.com/eip-attributes: '{attributes}'\n"
           f"spec:\n  containers:\n  - name: main\n    image: {registry}/demo/app:latest\n    command: [sleep, '600']\n")
    for attributes, named in [('{"InternetChargeType":"TRAFFIC"}', "InternetChargeType"), ("not json", "JSON object"),
                              ('{"InternetMaxBandwidthOut":5000}', "InternetMaxBandwidthOut")]:
        r = kubectl("apply", "-f", "-", stdin=pod.replace("{attributes}", attributes), check=False)
        assert r.returncode != 0 and "eip-attributes" in r.stderr and named in r.stderr, r.stderr
    r = kubectl("apply", "-f", "-", stdin=pod.replace("{attributes}", "{}").replace("    eks.tke.cloud.tencent.com/vpc-id: vpc-pub\n", ""),
                check=False)
    assert r.returncode != 0 and "VpcId" in r.stderr, r.stderr
    try:
        kubectl("apply", "-f", "-", stdin=pod.replace("{attributes}", '{"InternetMaxBandwidthOut":2}'))
        [instance] = [i for i in make_client(building_server).call_json("DescribeEKSContainerInstances", {})["Response"]["EksCis"]
                      if i["EksCiName"] == "public"]
        assert instance["EipAddress"].startswith("198.51.100.") and instance["AutoCreatedEipId"].startswith("eip-"), instance
    finally:
        kubectl("delete", "pod", "public", "--grace-period=0", "--ignore-not-found", timeout=60)


def test_configmaps_are_watched_added_modified_and_deleted(building_server):
    kubectl = Kubectl(KUBECTLS[-1], kubeconfig(building_server))
    kubectl("create", "configmap", "watched-a", "--from-literal=k=1")
    kubectl("label", "configmap", "watched-a", "team=blue")
    watcher = subprocess.Popen([kubectl.binary, "--kubeconfig", kubectl.config, "get", "configmaps", "-w", "--output-watch-events",
                                "-l", "team=blue"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    reader = threading.Thread(target=lambda: [seen.append(line) for line in iter(watcher.stdout.readline, "")], daemon=True)
    reader.start()
    try:
        deadline = time.time() + 20
        while time.time() < deadline and not any("watched-a" in line for line in seen):
            time.sleep(0.1)
        kubectl("create", "configmap", "watched-b", "--from-literal=k=1")  # not selected
        # kubectl lists, then watches: a change between the two is not told, so the change is made
        # again until the watch tells one. Changes within one look at the store are told as one
        # (the last state, as an informer would read it); the delete comes once a change was told.
        n = 2
        while time.time() < deadline and not any("MODIFIED" in line for line in seen):
            kubectl("patch", "configmap", "watched-a", "--type", "merge", "-p", f'{{"data":{{"k":"{n}"}}}}')
            n += 1
            step = time.time() + 1
            while time.time() < step and not any("MODIFIED" in line for line in seen):
                time.sleep(0.05)
        kubectl("delete", "configmap", "watched-a")
        while time.time() < deadline and not any("DELETED" in line for line in seen):
            time.sleep(0.1)
        events = [line.split()[0] for line in seen if "watched-" in line]
        assert events[:1] == ["ADDED"] and "MODIFIED" in events and events[-1] == "DELETED", (seen, watcher.stderr)
        assert not any("watched-b" in line for line in seen), seen
    finally:
        watcher.kill()
        kubectl("delete", "configmap", "watched-a", "watched-b", "--ignore-not-found")


GANESHA = """NFS_CORE_PARAM {{ Protocols = 4; NFS_Port = 2049; Enable_NLM = false; Enable_RQUOTA = false; Enable_UDP = false; }}
NFSV4 {{ Graceless = true; Lease_Lifetime = 10; Only_Numeric_Owners = true; Allow_Numeric_Owners = true; }}
EXPORT {{ Export_Id = 1; Path = {export}; Pseudo = /export; Access_Type = RW; Squash = No_Root_Squash; SecType = sys;
          Protocols = 4; Transports = TCP; FSAL {{ Name = VFS; }} }}
LOG {{ Default_Log_Level = EVENT; }}
"""


class NFSServer:
    """NFS-Ganesha (Debian's, NFSv4 only, no rpcbind) in a network namespace standing for another
    host, reached over a veth from a /30 the host does not use."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="imc-nfs-server-")
        self.export = os.path.join(self.dir, "export")
        os.mkdir(self.export)
        os.chmod(self.dir, 0o755)
        self.name, self.host_end = f"imc-nfs-{os.getpid()}", f"imcn{os.getpid() % 100000}"
        used = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout + \
            subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
        prefix = next(p for p in ("203.0.113.", "198.18.1.", "100.127.252.") if p + "9" not in used)
        self.address, gateway = prefix + "10", prefix + "9"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        for command in [f"link add {self.host_end} type veth peer name eth0 netns {self.name}",
                        f"addr add {gateway}/30 dev {self.host_end}", f"link set {self.host_end} up"]:
            subprocess.run(["ip"] + command.split(), check=True)
        for command in [f"addr add {self.address}/30 dev eth0", "link set eth0 up", "link set lo up"]:
            subprocess.run(["ip", "-n", self.name] + command.split(), check=True)
        conf = os.path.join(self.dir, "ganesha.conf")
        with open(conf, "w") as f:
            f.write(GANESHA.format(export=self.export))
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.name, "ganesha.nfsd", "-F", "-L", os.path.join(self.dir, "log"),
                                      "-f", conf, "-p", os.path.join(self.dir, "pid")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while "NFS SERVER INITIALIZED" not in (open(os.path.join(self.dir, "log")).read()
                                               if os.path.exists(os.path.join(self.dir, "log")) else ""):
            assert time.time() < deadline and self.proc.poll() is None, "ganesha did not start"
            time.sleep(0.1)

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        subprocess.run(["ip", "link", "del", self.host_end], check=False)
        subprocess.run(["ip", "netns", "del", self.name], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def test_a_pods_nfs_volume_is_mounted_by_imcs_userspace_client_and_writes_reach_the_server(building_server, registry):
    kubectl = Kubectl(KUBECTLS[-1], kubeconfig(building_server))
    server = NFSServer()
    pod = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: main\n"
           f"    image: {registry}/demo/app:latest\n    command: [/bin/sh, -c, 'echo from-the-pod > /data/hello.txt; mkdir /data/dir;"
           " ls -ln /data; cat /data/hello.txt; sleep 600']\n    volumeMounts: [{{name: shared, mountPath: /data}}]\n"
           "  volumes:\n  - name: shared\n    nfs: {{server: {server}, path: /export}}\n")
    try:
        for bad, named in [("/export", "/export/../etc"), ("{server}", "'a b'")]:
            r = kubectl("apply", "-f", "-", stdin=pod.replace(bad, named).format(name="bad", server=server.address), check=False)
            assert r.returncode != 0 and "spec.volumes[0].nfs" in r.stderr, r.stderr
        kubectl("apply", "-f", "-", stdin=pod.format(name="nfs", server=server.address))
        kubectl("wait", "--for=condition=Ready", "pod/nfs", "--timeout=60s")
        deadline = time.time() + 20
        while not os.path.exists(os.path.join(server.export, "dir")):
            assert time.time() < deadline, kubectl("logs", "nfs").stdout
            time.sleep(0.1)
        # What the container wrote is on the server, owned by the container's root as the server
        # sees it (the instance's id range mapped back).
        with open(os.path.join(server.export, "hello.txt")) as f:
            assert f.read() == "from-the-pod\n"
        assert os.stat(os.path.join(server.export, "hello.txt")).st_uid == 0
        log = kubectl("logs", "nfs").stdout
        [listed] = [line.split() for line in log.splitlines() if line.endswith("hello.txt")]
        assert listed[2:4] == ["0", "0"] and "from-the-pod" in log, log  # root's inside the container too
        clients = subprocess.run(["ps", "-o", "user=,args=", "-C", "imc-nfs"], capture_output=True, text=True).stdout
        assert clients and all(line.split()[0] == "nobody" for line in clients.splitlines()), clients
        described = kubectl("describe", "pod", "nfs").stdout
        assert "Mounted" in described and "userspace client" in described, described
        # A file the server's side adds is seen in the container.
        with open(os.path.join(server.export, "from-server.txt"), "w") as f:
            f.write("hi")
        r = kubectl("exec", "nfs", "--", "cat", "/data/from-server.txt")
        assert r.stdout == "hi", r.stdout
        # The Cloud API's NfsVolumes and a container's VolumeMounts (the SDK's fields) do the same;
        # a CbsVolumes disk is one imc does not know.
        client = make_client(building_server)
        body = {"EksCiName": "nfs-api", "RestartPolicy": "Never", "EksCiVolume": {"NfsVolumes": [
                    {"Name": "data", "Server": server.address, "Path": "/export", "ReadOnly": True}]},
                "Containers": [{"Name": "main", "Image": f"{registry}/demo/app:latest",
                                "Commands": ["/bin/sh", "-c", "cat /mnt/hello.txt; touch /mnt/no 2>&1; sleep 600"],
                                "VolumeMounts": [{"Name": "data", "MountPath": "/mnt"}]}]}
        [api_ci] = client.call_json("CreateEKSContainerInstances", body)["Response"]["EksCiIds"]
        deadline = time.time() + 60
        while "from-the-pod" not in client.call_json("DescribeEksContainerInstanceLog", {"EksCiId": api_ci})["Response"]["LogContent"]:
            assert time.time() < deadline, client.call_json("DescribeEKSContainerInstanceEvent", {"EksCiId": api_ci})
            time.sleep(0.2)
        said = ""
        while "Read-only file system" not in said:
            assert time.time() < deadline, said
            said = client.call_json("DescribeEksContainerInstanceLog", {"EksCiId": api_ci})["Response"]["LogContent"]
            time.sleep(0.1)
        client.call_json("DeleteEKSContainerInstances", {"EksCiIds": [api_ci]})
        while client.call_json("DescribeEKSContainerInstances", {"EksCiIds": [api_ci]})["Response"]["TotalCount"]:
            assert time.time() < deadline + 60
            time.sleep(0.1)
        for bad, named in [({"EksCiVolume": {"CbsVolumes": [{"Name": "d", "CbsDiskId": "disk-abcdefgh"}]}}, "CbsDiskId"),
                           ({"EksCiVolume": {"NfsVolumes": [{"Name": "data", "Server": "a b", "Path": "/"}]}}, "Server")]:
            with pytest.raises(Exception, match=named):
                client.call_json("CreateEKSContainerInstances", {**body, **bad})
        # A server in a network the operator does not allow is refused at the mount, with why.
        kubectl("apply", "-f", "-", stdin=pod.format(name="private", server="10.255.255.1"))
        deadline = time.time() + 30
        while "FailedMount" not in kubectl("describe", "pod", "private").stdout:
            assert time.time() < deadline, kubectl("describe", "pod", "private").stdout
            time.sleep(0.2)
        assert "address policy refuses (private)" in kubectl("describe", "pod", "private").stdout
    finally:
        kubectl("delete", "pod", "nfs", "private", "bad", "--grace-period=0", "--ignore-not-found", timeout=60)
        server.close()
    assert not [line for line in open("/proc/self/mountinfo") if "fuse.imc-nfs" in line]


def test_kubectl_exec_in_a_gvisor_pod_runs_without_a_terminal_and_refuses_one_by_name(building_server, registry):
    kubectl = Kubectl(KUBECTLS[-1], kubeconfig(building_server))
    pod = (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: gv\nspec:\n  runtimeClassName: gvisor\n  containers:\n  - name: main\n"
           f"    image: {registry}/demo/app:latest\n    command: [sleep, '600']\n")
    try:
        kubectl("apply", "-f", "-", stdin=pod)
        kubectl("wait", "--for=condition=Ready", "pod/gv", "--timeout=90s", timeout=100)
        r = kubectl("exec", "-i", "gv", "--", "/bin/sh", "-c", "wc -c; exit 4", stdin="x" * 1000, check=False)
        assert r.returncode == 4 and r.stdout.split()[0] == "1000", (r.returncode, r.stdout, r.stderr)
        said, code = on_a_terminal([kubectl.binary, "--kubeconfig", kubectl.config, "exec", "-it", "gv", "--", "true"], rows=20, columns=70)
        assert code != 0 and "not available in gvisor Pods" in said, said
    finally:
        kubectl("delete", "pod", "gv", "--grace-period=0", timeout=60)
