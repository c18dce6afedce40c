"""Configuration from the environment with real onceflow processes: an
ONCEFLOW_<SECTION>__<OPTION> variable sets an option of the config file
(the Redis URL, the HTTP port, a group's concurrency), the command line
overrides the environment, which overrides the file; `publish` and
`status` read the environment too; an unknown variable, one naming a
group the file does not have and a value that does not parse are refused
at start, naming the variable (docs/configuration.md, Environment
variables)."""

import json
import os
import shutil
import sys
import tempfile
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import onceflow_proc as op  # noqa: E402


def get_json(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}",
                                timeout=10) as r:
        return json.loads(r.read())


class EnvConfigTest(op.KeepLogsOnFailure, unittest.TestCase):
    def setUp(self):
        import time
        self.t0 = time.monotonic()
        self.dir = tempfile.mkdtemp(prefix="onceflow-env-")
        self.cfg = os.path.join(self.dir, "node.ini")
        self.nodes = []

    def tearDown(self):
        for n in self.nodes:
            n.close()

    def write(self, node_port, http_port=0, store=None, redis=None,
              concurrency=2):
        sections = {
            "node": {"name": '"env-node"', "host": '"127.0.0.1"',
                     "port": node_port,
                     "data-dir": f'"{os.path.join(self.dir, "data")}"',
                     "shutdown-timeout": "5s"},
            "store": store or {"backend": '"embedded"'},
            "http": {"port": http_port},
            "scheduler": {"max-threads": 2},
            "groups.orders": {"handler": '"store"',
                              "concurrency": concurrency},
        }
        if redis:
            sections["redis"] = redis
        op.write_ini(self.cfg, sections)

    def start(self, env, *extra):
        n = op.Node(op.BINARY, self.cfg, os.path.join(self.dir, "node.log"),
                    extra, env=env)
        self.nodes.append(n)
        n.wait_ready()
        return n

    def listeners(self, http_port):
        groups = get_json(http_port, "/groups")["groups"]
        return {g["name"]: g["listeners"] for g in groups}

    def test_environment_sets_the_http_port_and_a_groups_concurrency(self):
        node_port, http_port = op.free_port(), op.free_port()
        self.write(node_port, http_port=0, concurrency=2)
        env = {"ONCEFLOW_HTTP__PORT": str(http_port),
               "ONCEFLOW_GROUPS__ORDERS__CONCURRENCY": "4"}
        self.start(env)
        op.wait_for(lambda: self.listeners(http_port) == {"orders": 4}, 20,
                    "four listeners on the port of ONCEFLOW_HTTP__PORT")
        r = op.run(op.BINARY, "status", "--config", self.cfg, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("groups.orders.listeners = 4", r.stdout)

    def test_command_line_over_environment_over_file(self):
        file_port, env_port = op.free_port(), op.free_port()
        http_env, http_cli = op.free_port(), op.free_port()
        # The file names a node port nobody listens on: `status` and
        # `publish` find the node only through the environment.
        self.write(file_port, http_port=0, concurrency=2)
        env = {"ONCEFLOW_NODE__PORT": str(env_port),
               "ONCEFLOW_HTTP__PORT": str(http_env),
               "ONCEFLOW_GROUPS__ORDERS__CONCURRENCY": "4"}
        self.start(env, f"--http.port={http_cli}",
                   "--groups.orders.concurrency=3")
        self.assertEqual(self.listeners(http_cli), {"orders": 3})
        with self.assertRaises(OSError):
            get_json(http_env, "/groups")
        r = op.run(op.BINARY, "publish", "--config", self.cfg, "--type",
                   "order.created", "--id", "env-1", env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("env-1 accepted", r.stdout)
        op.wait_for(lambda: op.run(
            op.BINARY, "status", "--config", self.cfg, "--id", "env-1",
            env=env).stdout.strip() == "env-1 orders processed", 20,
            "env-1 processed")
        # Without the environment the file's port holds: nobody is there.
        r = op.run(op.BINARY, "status", "--config", self.cfg)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"cannot reach node at 127.0.0.1:{file_port}",
                      r.stdout)

    @unittest.skipIf(shutil.which("redis-server") is None,
                     "redis-server is not installed")
    def test_redis_url_from_the_environment(self):
        server = op.RedisServer(os.path.join(self.dir, "redis"),
                                os.path.join(self.dir, "redis.log"),
                                appendonly=False).start()
        self.addCleanup(server.close)
        # The file's URL names a port where no Redis runs (and the node
        # does not wait for one).
        dead = op.free_port()
        node_port, http_port = op.free_port(), op.free_port()
        self.write(node_port, http_port=http_port,
                   store={"backend": '"redis"'},
                   redis={"url": f'"redis://127.0.0.1:{dead}/0"',
                          "prefix": '"envtest:"',
                          "wait-at-start": "false"})
        r = op.run(op.BINARY, "node", "--config", self.cfg, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"127.0.0.1:{dead}", r.stderr)
        env = {"ONCEFLOW_REDIS__URL": server.url()}
        self.start(env)
        r = op.run(op.BINARY, "publish", "--config", self.cfg, "--type",
                   "order.created", "--id", "r-1", env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # The node's groups and the event are in that server.
        self.assertEqual(server.cli("HKEYS", "envtest:groups").stdout.split(),
                         ["orders"])
        op.wait_for(lambda: server.cli("HLEN", "envtest:g:orders:proc")
                    .stdout.strip() == "1", 20, "r-1's effect in Redis")

    def test_unknown_variables_are_refused_by_every_command(self):
        self.write(op.free_port())
        cases = [
            ({"ONCEFLOW_HTTP__PROT": "1"},
             "bad environment: unknown environment variable "
             "ONCEFLOW_HTTP__PROT: section [http] has no such option"),
            ({"ONCEFLOW_REDIS_URL": "redis://x"},
             "unknown environment variable ONCEFLOW_REDIS_URL: it names no "
             "option"),
            ({"ONCEFLOW_GROUPS__PAYMENTS__CONCURRENCY": "4"},
             "environment variable ONCEFLOW_GROUPS__PAYMENTS__CONCURRENCY "
             "names group PAYMENTS, which the config file does not have "
             "(its groups: orders)"),
            ({"ONCEFLOW_HTTP__PORT": "eighty"},
             "option 'http.port' (from ONCEFLOW_HTTP__PORT) must be an "
             "integer"),
            ({"ONCEFLOW_SCHEDULER__MAX_THREADS": "many"},
             "environment variable ONCEFLOW_SCHEDULER__MAX_THREADS: 'many' "
             "is no value of CAF's option 'scheduler.max-threads'"),
        ]
        for env, says in cases:
            for cmd in (["node"], ["status"],
                        ["publish", "--type", "t", "--payload", "{}"]):
                with self.subTest(env=env, cmd=cmd[0]):
                    r = op.run(op.BINARY, cmd[0], "--config", self.cfg,
                               *cmd[1:], env=env, timeout=30)
                    self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                    self.assertIn(says, r.stderr)
        # The node validates what the environment set, naming it too.
        r = op.run(op.BINARY, "node", "--config", self.cfg,
                   env={"ONCEFLOW_STORE__BACKEND": "redis",
                        "ONCEFLOW_REDIS__URL": "localhost:6379"}, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("option 'redis.url' (from ONCEFLOW_REDIS__URL) must "
                      "look like", r.stderr)


if __name__ == "__main__":
    op.main()
