"""End-to-end test of the shipped default paths (issue 8): a config with no
state_dir, log_dir, control or bpffs, run in a private mount namespace in
which none of the default directories exists (/run, /var/lib and /var/log
are empty tmpfs there, and bpffs is not mounted on /sys/fs/bpf), exactly as
on a host that never had portguard. Its own instance name and ports keep it
apart from a real guard: a mount namespace does not separate cgroups, BPF
attachments or reserved ports. The namespace dies with its last process, so
nothing it mounted outlives the test."""
import json
import os
import shutil
import subprocess
import tempfile

from pgtest import (BASE, PG_DEMO, PORTGUARD, GuardTest, cg_root, pid_alive,  # noqa: E402
                    remove_cgroup_tree, wait_for)

PORT = BASE + 45

HIDE = ("mount -t tmpfs -o mode=0755 tmpfs /run && mount -t tmpfs -o mode=0755 tmpfs /var/lib"
        " && mount -t tmpfs -o mode=0755 tmpfs /var/log"
        " && { ! mountpoint -q /sys/fs/bpf || umount -l /sys/fs/bpf; }")


class DefaultPathsTest(GuardTest):
    def setUp(self):
        super().setUp()
        self.name = "pgdef%d" % os.getpid()
        self.dir = tempfile.mkdtemp(prefix="pg-e2e-def-")
        self._pg_cleanups.append(lambda: shutil.rmtree(self.dir, ignore_errors=True))
        self.conf = os.path.join(self.dir, "portguard.conf")
        with open(self.conf, "w") as f:
            f.write("[guard]\nname = %s\nports = %d-%d\nmode = enforce\n\n"
                    "[service:web]\ncommand = %s http --port %d --name web\nport = %d\n"
                    "health = /health\nstop_timeout = 1s\npidfile = /run/%s/web.pid\n"
                    % (self.name, PORT, PORT + 2, PG_DEMO, PORT, PORT, self.name))
        self.proc = None
        self._pg_cleanups.append(self.cleanup)

    def inns(self, *cmd, check=None):
        """Run cmd inside the guard's mount namespace."""
        r = subprocess.run(["nsenter", "--mount=/proc/%d/ns/mnt" % self.proc.pid, *cmd],
                           capture_output=True, text=True, timeout=60)
        if check is not None and r.returncode != check:
            raise AssertionError("%s: exit %d, expected %d\n%s%s" % (
                " ".join(cmd), r.returncode, check, r.stdout, r.stderr))
        return r

    def cli(self, *args, check=None):
        return self.inns(PORTGUARD, *args, "-c", self.conf, check=check)

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.cli("shutdown")
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        remove_cgroup_tree(os.path.join(cg_root() or "/nonexistent", "portguard-" + self.name))

    def test_guard_on_default_paths_makes_every_directory(self):
        self.err = open(os.path.join(self.dir, "guard.stderr"), "w")
        self._pg_cleanups.append(self.err.close)
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             HIDE + ' && exec "$0" run -c "$1"', PORTGUARD, self.conf],
            stdout=self.err, stderr=self.err, start_new_session=True)

        def answers():
            if self.proc.poll() is not None:
                with open(os.path.join(self.dir, "guard.stderr")) as f:
                    raise AssertionError("the guard exited %d:\n%s" % (self.proc.returncode,
                                                                      f.read()))
            return self.cli("status", "--json").returncode != 3
        wait_for(answers, 20, "the guard to answer on /run/portguard/%s.sock" % self.name)
        wait_for(lambda: json.loads(self.cli("status", "--json").stdout)["services"][0]
                 ["listening"], 20, "web listening")
        self.cli("status", check=0)
        n = self.name
        # Every default directory was made, with the documented modes.
        expect = {
            "/var/lib/portguard/%s" % n: "750 directory",
            "/var/log/portguard/%s" % n: "750 directory",
            "/run/portguard": "755 directory",
            "/run/%s" % n: "755 directory",  # the pidfile's directory
            "/sys/fs/bpf/portguard/%s" % n: "700 directory",
        }
        for path, want in expect.items():
            r = self.inns("stat", "-c", "%a %F", path)
            self.assertEqual(r.stdout.strip(), want, "%s: %s" % (path, r.stderr))
        self.assertEqual(self.inns("stat", "-c", "%F", "/run/portguard/%s.sock" % n).stdout
                         .strip(), "socket")
        self.assertEqual(self.inns("stat", "-fc", "%T", "/sys/fs/bpf").stdout.strip(),
                         "bpf_fs", "the guard mounted bpffs")
        for f in ("/var/lib/portguard/%s/guard.lock" % n,
                  "/var/lib/portguard/%s/events.jsonl" % n, "/run/%s/web.pid" % n):
            self.inns("test", "-f", f, check=0)
        self.assertIn("link_pg_bind4",
                      self.inns("ls", "/sys/fs/bpf/portguard/%s" % n, check=0).stdout)
        # Enforcement works on the defaults: a stranger's bind is refused.
        r = subprocess.run(["python3", "-c", "import socket,sys\ns=socket.socket()\n"
                            "try:\n s.bind(('127.0.0.1', %d))\nexcept OSError as e:\n"
                            " sys.exit(e.errno)\n" % (PORT + 1)])
        self.assertEqual(r.returncode, 1, "EPERM for a rogue bind")  # errno 1 = EPERM
        wait_for(lambda: "bind_denied" in self.inns(
            "cat", "/var/lib/portguard/%s/events.jsonl" % n).stdout, 10, "bind_denied")
        # shutdown stops everything and takes its pins and its bpffs mount with it.
        self.cli("shutdown", check=0)
        self.proc.wait(20)
        self.assertEqual(self.proc.returncode, 0)
        self.assertFalse(os.path.isdir(os.path.join(cg_root(), "portguard-" + n)))
        self.assertFalse(pid_alive(self.proc.pid))
