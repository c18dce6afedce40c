"""A real MongoDB-compatible server for the process tests: FerretDB 1.24 on
SQLite (our Go main in tests/support/ferretdb/, built by
scripts/test-servers.sh) on a free port of 127.0.0.1, stopped by pid.
Documents are read back with pymongo, a client independent of onceflow's
libmongoc."""

import os
import signal
import socket
import subprocess

import onceflow_proc as op

HERE = os.path.dirname(os.path.abspath(__file__))


def binary():
    path = os.environ.get("ONCEFLOW_FERRETDB") or \
        os.path.join(HERE, "ferretdb", "bin", "ferretdb-test")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"FerretDB is not built at {path}: run "
                           "scripts/test-servers.sh")
    return path


class FerretDB:
    def __init__(self, data_dir, log_path, port=None):
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = port or op.free_port()
        self.proc = None
        self._clients = []

    def uri(self, db="onceflow"):
        return (f"mongodb://127.0.0.1:{self.port}/{db}"
                "?serverSelectionTimeoutMS=1000&connectTimeoutMS=500")

    def start(self, timeout=30):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [binary(), "--listen", f"127.0.0.1:{self.port}",
             "--data-dir", self.data_dir],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError(f"FerretDB exited with "
                                   f"{self.proc.returncode}: "
                                   f"{op.tail(self.log_path, 2000)}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return True
            except OSError:
                return False
        op.wait_until(up, timeout, "FerretDB to listen")
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=30):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def collection(self, db="onceflow", name="processed_events"):
        """A pymongo collection (imported here: only these tests need it)."""
        import pymongo
        c = pymongo.MongoClient(self.uri(db), serverSelectionTimeoutMS=5000)
        self._clients.append(c)
        return c[db][name]

    def close(self):
        for c in self._clients:
            c.close()
        self.stop()


def pairs(coll):
    """(eventId, group) -> number of documents (read whole and counted
    here: FerretDB's $group is slow on many documents)."""
    out = {}
    for d in coll.find({}, {"_id": 0, "eventId": 1, "group": 1},
                       batch_size=10000):
        k = (d["eventId"], d["group"])
        out[k] = out.get(k, 0) + 1
    return out


def wait_documents(coll, n, timeout, what="documents"):
    op.wait_until(lambda: coll.count_documents({}) >= n, timeout,
                  f"{n} {what}",
                  progress=lambda: f"{coll.count_documents({})} so far")


def mongo_section(uri, **kw):
    """Raw INI values of a [mongo] section."""
    out = {"uri": f'"{uri}"', "write-concern": '"1"',
           "server-selection-timeout": "1s"}
    for k, v in kw.items():
        out[k.replace("_", "-")] = v
    return out
