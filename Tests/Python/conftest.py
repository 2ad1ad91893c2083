"""Starts a real `imc serve` (the debug build) for the API tests and gives them SDK clients."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest
from tencentcloud.common import credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.tke.v20180525 import models, tke_client

from cluster_bed import BENCH, IMC, ROOT, ROOT_ID, ROOT_KEY, Engines, Registry, free_port  # noqa: F401

OTHER_ID, OTHER_KEY = "AKIDotherTEST", "other-secret-key"
# An account whose instances use a cache unless they say otherwise (the config's default annotations).
DEFAULTS_ID, DEFAULTS_KEY = "AKIDdefaultsTEST", "defaults-secret-key"


# IMC_TEST_SCALED=1: the servers keep their state in a real PostgreSQL and their disks and
# snapshots in a real one-node Ceph (both started here), as a scaled-out deployment does; the
# same tests must pass.
SCALED = os.environ.get("IMC_TEST_SCALED") == "1"


@pytest.fixture(scope="session")
def engines():
    """PostgreSQL and Ceph for the scaled-out mode (nothing in the embedded one)."""
    if not SCALED:
        yield None
        return
    started = Engines()
    yield started
    started.stop()


def engine_arguments(engines):
    """`imc serve`'s flags for the scaled-out mode: a database of its own, disks in Ceph."""
    if not engines:
        return []
    # A shared database means instances are placed on nodes: this one offers room for every test's.
    return ["--database", engines.database(), "--ceph-conf", engines.ceph_conf, "--node-cpu", "256", "--node-memory-gib", "1024"]


def rbd(server, *arguments):
    return subprocess.run(["rbd", "-c", server["ceph_conf"], *arguments], capture_output=True, text=True).stdout.split()


def snapshots_held(server):
    """The ids of the snapshots the server's backend holds (files in the pool, or RBD snapshots)."""
    if server.get("ceph_conf"):
        images = [i for i in rbd(server, "ls") if i.startswith("disk-")]
        return {"snap-" + i[5:] for i in images if "snap-" + i[5:] in rbd(server, "snap", "ls", i)}
    directory = os.path.join(server["data"], "root", "pool", "snapshots")
    return {f[:-4] for f in os.listdir(directory) if f.endswith(".img")}


def disks_left(server):
    """The data disks the server's backend holds (image files, or RBD images that hold no snapshot)."""
    if server.get("ceph_conf"):
        bases = {"disk-" + s[5:] for s in snapshots_held(server)}
        return [i for i in rbd(server, "ls") if i.startswith("disk-") and i not in bases]
    return os.listdir(os.path.join(server["data"], "root", "pool", "disks"))


@pytest.fixture(scope="session")
def server():
    data = tempfile.mkdtemp(prefix="imc-api-")
    os.chmod(data, 0o711)  # containers and build sandboxes run as unprivileged ids that pass through it
    config = os.path.join(data, "config.yaml")
    with open(config, "w") as f:
        f.write(
            "regions: [ap-guangzhou, ap-shanghai]\n"
            # VPC networks of their own (the other test servers on this host use others).
            "networks: {first: 100, count: 16}\n"
            "securityGroups: {sg-12345678: {egress: true}}\n"
            f"accounts:\n  - {{account: '100000000002', secretId: {OTHER_ID}, secretKey: {OTHER_KEY}}}\n"
        )
    port, tls_port = free_port(), free_port()
    env = dict(os.environ, IMC_ROOT_SECRET_ID=ROOT_ID, IMC_ROOT_SECRET_KEY=ROOT_KEY)
    log = open(os.path.join(data, "serve.log"), "w")
    proc = subprocess.Popen(
        # --builders 0: these tests drive the API alone; a build would try to reach docker.io.
        [IMC, "serve", "--data-root", os.path.join(data, "root"), "--listen", f"127.0.0.1:{port}", "--config", config,
         "--listen-tls", f"127.0.0.1:{tls_port}", "--builders", "0", "--pool-size-gib", "64"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            socket.create_connection(("127.0.0.1", tls_port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("imc serve exited: " + open(log.name).read())
            time.sleep(0.05)
    made = {"port": port, "tls_port": tls_port, "ca": os.path.join(data, "root", "tls", "ca.pem"), "data": data, "log": log.name}
    yield made
    if proc.poll() is None:
        remove_every_instance(made)
    proc.terminate()
    proc.wait(timeout=10)
    subprocess.run(["umount", os.path.join(data, "root", "pool")], check=False)
    subprocess.run(["rm", "-rf", data], check=False)


def make_client(server, secret_id=ROOT_ID, secret_key=ROOT_KEY, region="ap-guangzhou"):
    profile = ClientProfile(httpProfile=HttpProfile(endpoint=f"127.0.0.1:{server['port']}", protocol="http"))
    return tke_client.TkeClient(credential.Credential(secret_id, secret_key), region, profile)


def remove_every_instance(server):
    """Deletes every account's instances and waits until they are gone: instances outlive a stop
    of `imc serve` by design (a restarted service takes them back), so a test that failed with
    instances running would otherwise leave their containers, mounts and loop devices on the host."""
    clients = [make_client(server, i, k) for i, k in ((ROOT_ID, ROOT_KEY), (OTHER_ID, OTHER_KEY), (DEFAULTS_ID, DEFAULTS_KEY))]
    pending = []
    for c in clients:
        try:
            ids = [i["EksCiId"] for i in c.call_json("DescribeEKSContainerInstances", {"Limit": 100})["Response"]["EksCis"]]
            if ids:
                c.call_json("DeleteEKSContainerInstances", {"EksCiIds": ids})
                pending.append((c, ids))
        except Exception as e:  # a server that cannot answer has nothing more to give
            print(f"could not delete the instances left: {e}")
    deadline = time.time() + 60
    for c, ids in pending:
        while time.time() < deadline:
            try:
                if not c.call_json("DescribeEKSContainerInstances", {"EksCiIds": ids})["Response"]["TotalCount"]:
                    break
            except Exception:
                break
            time.sleep(0.1)


@pytest.fixture
def client(server):
    return make_client(server)


@pytest.fixture
def other(server):
    return make_client(server, OTHER_ID, OTHER_KEY)


@pytest.fixture(scope="session")
def registry():
    started = Registry()
    yield started.host
    started.stop()


@pytest.fixture(scope="session")
def building_server(registry, engines):
    data = tempfile.mkdtemp(prefix="imc-build-api-")
    os.chmod(data, 0o711)
    config = os.path.join(data, "config.yaml")
    with open(config, "w") as f:
        f.write("networks: {first: 200, count: 16}\neips: {pool: 198.51.100.16/28, perAccount: 4}\n"
                "securityGroups:\n  sg-1: {egress: true}\n"
                "  sg-web: {egress: true, ingress: [{from: 0.0.0.0/0, protocol: tcp, ports: '8080'},"
                " {from: vpc, protocol: tcp, ports: '9090'}]}\n"
                f"accounts:\n  - {{account: '100000000002', secretId: {OTHER_ID}, secretKey: {OTHER_KEY}}}\n"
                f"  - {{account: '100000000003', secretId: {DEFAULTS_ID}, secretKey: {DEFAULTS_KEY},\n"
                f"     defaultAnnotations: {{eks.tke.cloud.tencent.com/use-image-cache: auto,\n"
                f"                          eks.tke.cloud.tencent.com/image-cache-disk-size: 21}}}}\n")
    port, tls_port = free_port(), free_port()
    env = dict(os.environ, IMC_ROOT_SECRET_ID=ROOT_ID, IMC_ROOT_SECRET_KEY=ROOT_KEY)
    log = open(os.path.join(data, "serve.log"), "w")
    proc = subprocess.Popen([IMC, "serve", "--data-root", os.path.join(data, "root"), "--listen", f"127.0.0.1:{port}",
                             "--builders", "1", "--pool-size-gib", "256", "--config", config,
                             "--listen-tls", f"127.0.0.1:{tls_port}", "--allow-registry-network", "127.0.0.0/8",
                             "--plain-http", registry] + engine_arguments(engines),
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    server = {"port": port, "tls_port": tls_port, "ca": os.path.join(data, "root", "tls", "ca.pem"), "data": data, "log": log.name,
              "ceph_conf": engines and engines.ceph_conf}
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
    if proc.poll() is not None:
        # The server died under the tests: its log is kept for whoever reads the failures.
        kept = os.path.join(tempfile.gettempdir(), f"imc-serve-died-{os.getpid()}.log")
        shutil.copy(log.name, kept)
        print(f"imc serve exited with {proc.returncode} during the tests; its log: {kept}")
    else:
        remove_every_instance(server)
    proc.terminate()
    proc.wait(timeout=20)
    subprocess.run(["umount", os.path.join(data, "root", "pool")], check=False)
    shutil.rmtree(data, ignore_errors=True)
