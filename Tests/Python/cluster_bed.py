"""The engines and processes of imc past one machine, started on this one: PostgreSQL (initdb on a
free port), a one-node Ceph (scripts/ceph-single-node.sh), Debian's registry seeded with images
made from code, and `imc serve` replicas and nodes, each node with its own data root and mount
namespace. Used by the tests (conftest.py, test_cluster.py) and by scripts/bench-cluster.py."""
import base64
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMC = os.environ.get("IMC_BINARY", os.path.join(ROOT, ".build", "debug", "imc"))
BENCH = os.path.join(os.path.dirname(IMC), "imc-bench")
PG_BIN = "/usr/lib/postgresql/15/bin"
ROOT_ID, ROOT_KEY = "AKIDrootTEST", "root-secret-key"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(database, sql):
    out = subprocess.run([f"{PG_BIN}/psql", database, "-At", "-c", sql], capture_output=True, text=True, check=True)
    return [line.split("|") for line in out.stdout.split("\n") if line]


class Engines:
    """PostgreSQL and Ceph in a temporary directory; `database()` makes a fresh database."""

    def __init__(self):
        self.work = tempfile.mkdtemp(prefix="imc-engines-")
        os.chmod(self.work, 0o755)
        self.pg = os.path.join(self.work, "pg")
        os.mkdir(self.pg)
        shutil.chown(self.pg, "postgres", "postgres")
        self.pg_port = free_port()
        self.as_postgres = ["runuser", "-u", "postgres", "--"]
        subprocess.run(self.as_postgres + [f"{PG_BIN}/initdb", "-D", f"{self.pg}/data", "-A", "trust", "-U", "postgres"],
                       check=True, capture_output=True)
        subprocess.run(self.as_postgres + [f"{PG_BIN}/pg_ctl", "-D", f"{self.pg}/data", "-l", f"{self.pg}/log", "-w", "-o",
                                           f"-p {self.pg_port} -k {self.pg} -c listen_addresses=127.0.0.1 -c fsync=off "
                                           "-c max_connections=300", "start"],
                       check=True, capture_output=True)
        self.ceph = os.path.join(self.work, "ceph")
        subprocess.run([os.path.join(ROOT, "scripts", "ceph-single-node.sh"), self.ceph, str(free_port())], check=True,
                       capture_output=True)
        self.ceph_conf = os.path.join(self.ceph, "ceph.conf")
        self.count = 0

    def database(self):
        self.count += 1
        name = f"imc_test_{self.count}"
        subprocess.run([f"{PG_BIN}/psql", "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres", "-c",
                        f"CREATE DATABASE {name}"], check=True, capture_output=True)
        return f"postgres://postgres@127.0.0.1:{self.pg_port}/{name}"

    def stop(self):
        subprocess.run(self.as_postgres + [f"{PG_BIN}/pg_ctl", "-D", f"{self.pg}/data", "-m", "immediate", "stop"],
                       capture_output=True)
        subprocess.run([os.path.join(ROOT, "scripts", "ceph-single-node.sh"), "stop", self.ceph], capture_output=True)
        shutil.rmtree(self.work, ignore_errors=True)


class Registry:
    """Debian's registry on a free loopback port, seeded by `imc-bench seed`."""

    def __init__(self):
        self.data = tempfile.mkdtemp(prefix="imc-reg-")
        port = free_port()
        self.host = f"127.0.0.1:{port}"
        with open(os.path.join(self.data, "config.yml"), "w") as f:
            f.write(f"version: 0.1\nlog: {{level: error, accesslog: {{disabled: true}}}}\n"
                    f"storage: {{filesystem: {{rootdirectory: {self.data}/data}}}}\nhttp: {{addr: {self.host}}}\n")
        self.proc = subprocess.Popen(["/usr/bin/docker-registry", "serve", os.path.join(self.data, "config.yml")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline:
            if subprocess.run([BENCH, "seed", "--registry", self.host], capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("could not seed the registry")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        shutil.rmtree(self.data, ignore_errors=True)


class Cluster:
    """API replicas and nodes (`imc serve --role`) over one database and one Ceph; each process
    in its own mount namespace with its own data root. `stop_all()` stops them on SIGTERM and
    returns the names of those that took more than 60 s."""

    def __init__(self, registry, engines, lost_seconds, heartbeat_seconds=0.5, log_level="info"):
        self.registry = registry
        self.database = engines.database()
        self.ceph_conf = engines.ceph_conf
        self.lost_seconds = lost_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.log_level = log_level
        self.base = tempfile.mkdtemp(prefix="imc-cluster-")
        os.chmod(self.base, 0o711)
        self.processes = {}
        self.arguments = {}
        self.master_key = base64.b64encode(os.urandom(32)).decode()

    def start(self, name, role, *extra):
        data = os.path.join(self.base, name)
        os.makedirs(data, exist_ok=True)
        os.chmod(data, 0o711)
        if name not in self.arguments:
            port, tls = free_port(), free_port()
            self.arguments[name] = {
                "port": port, "tls_port": tls, "data": data, "log": os.path.join(data, "serve.log"), "role": role,
                "ca": os.path.join(data, "root", "tls", "ca.pem"), "ceph_conf": self.ceph_conf, "args": [
                    "unshare", "--mount", "--propagation", "private", "--",
                    IMC, "serve", "--role", role, "--node-name", name, "--data-root", os.path.join(data, "root"),
                    "--listen", f"127.0.0.1:{port}", "--listen-tls", f"127.0.0.1:{tls}", "--database", self.database,
                    "--ceph-conf", self.ceph_conf, "--pool-size-gib", "64", "--allow-registry-network", "127.0.0.0/8",
                    "--plain-http", self.registry, "--heartbeat-seconds", str(self.heartbeat_seconds),
                    "--node-lost-seconds", str(self.lost_seconds), "--log-level", self.log_level, *extra]}
        server = self.arguments[name]
        env = dict(os.environ, IMC_ROOT_SECRET_ID=ROOT_ID, IMC_ROOT_SECRET_KEY=ROOT_KEY, IMC_MASTER_KEY=self.master_key)
        log = open(server["log"], "a")
        self.processes[name] = subprocess.Popen(server["args"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                                start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            if role == "node":
                if [name, "Ready"] in psql(self.database, f"SELECT name, state FROM nodes WHERE name = '{name}'"):
                    return server
            else:
                try:
                    socket.create_connection(("127.0.0.1", server["port"]), timeout=0.2).close()
                    return server
                except OSError:
                    pass
            if self.processes[name].poll() is not None:
                raise RuntimeError(open(server["log"]).read())
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not start: " + open(server["log"]).read())

    def stop(self, name, sig=signal.SIGTERM):
        proc = self.processes.pop(name)
        proc.send_signal(sig)
        proc.wait(timeout=60)

    def stop_all(self):
        slow = []
        for proc in self.processes.values():
            proc.send_signal(signal.SIGTERM)
        for name, proc in list(self.processes.items()):
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                slow.append(name)
                proc.kill()
                proc.wait()
        self.processes = {}
        # What a killed node left: its containers (runc under its root) and its rbd-fuse maps.
        for name, server in self.arguments.items():
            root = os.path.join(server["data"], "root")
            runc_root = os.path.join(root, "instances", "runc")
            if os.path.isdir(runc_root):
                for ci in os.listdir(runc_root):
                    subprocess.run(["runc", "--root", runc_root, "delete", "--force", ci], capture_output=True)
            subprocess.run(["pkill", "-9", "-f", f"rbd-fuse.*{root}"], capture_output=True)
        return slow

    def remove(self, keep_logs_of=()):
        kept = None
        if keep_logs_of:
            kept = tempfile.mkdtemp(prefix="imc-cluster-logs-")
            for name in keep_logs_of:
                shutil.copy(self.arguments[name]["log"], os.path.join(kept, f"{name}.log"))
        shutil.rmtree(self.base, ignore_errors=True)
        return kept
