"""Shared fixtures of the end-to-end tests: a guard on its own port range,
instance name, cgroup, control socket and state directory, plus worker
processes that make real bind()/listen() calls on command.

Nothing here touches ports 3000-10000. Every fixture cleans up after itself,
also when a test fails: the guard is shut down (services stopped, cgroups
removed), stray processes in the test cgroup are killed, workers are killed,
network namespaces deleted and the temporary directory removed.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

PORTGUARD = os.environ.get("PORTGUARD", os.path.abspath("build/portguard"))
PG_DEMO = os.environ.get("PG_DEMO", os.path.abspath("build/pg-demo"))
HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "worker.py")
# The test port range: far from 3000-10000 and below the ephemeral range.
BASE = int(os.environ.get("PG_TEST_BASE", "19000"))


def cg_root():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            sep = parts.index("-")
            if parts[sep + 1] == "cgroup2":
                return parts[4]
    return None


def wait_for(pred, timeout=10.0, what="condition"):
    """Wait for pred() to be true (a deadline for an asynchronous effect,
    not a timing assertion). Returns the last value of pred()."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(0.02)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def remove_cgroup_tree(cg):
    """Kill everything in cgroup cg and remove it, children first (a test's last resort)."""
    if not cg or not os.path.isdir(cg):
        return
    try:
        with open(os.path.join(cg, "cgroup.kill"), "w") as f:
            f.write("1")
    except OSError:  # no cgroup.kill before Linux 5.14: every member, one by one
        for dp, _, _ in os.walk(cg):
            try:
                with open(os.path.join(dp, "cgroup.procs")) as f:
                    for pid in f.read().split():
                        try:
                            os.kill(int(pid), signal.SIGKILL)
                        except OSError:
                            pass
            except OSError:
                pass
    for d in sorted((dp for dp, _, _ in os.walk(cg)), key=len, reverse=True):
        for _ in range(100):
            try:
                os.rmdir(d)
                break
            except OSError:
                time.sleep(0.02)


class Guard:
    """One portguard instance with its own config in a temp directory."""

    def __init__(self, name, guard_extra="", services=""):
        self.dir = tempfile.mkdtemp(prefix="pg-e2e-")
        self.name = name
        self.conf = os.path.join(self.dir, "portguard.conf")
        self.control = os.path.join(self.dir, "ctl.sock")
        self.state = os.path.join(self.dir, "state")
        self.logs = os.path.join(self.dir, "log")
        self.proc = None
        self.stderr_path = os.path.join(self.dir, "guard.stderr")
        self.bpffs = os.path.join(self.dir, "bpffs")  # its own: no mount left on /sys/fs/bpf
        with open(self.conf, "w") as f:
            f.write("[guard]\nname = %s\nports = %d-%d\nprotected = %d\nmode = observe\n"
                    "control = %s\nstate_dir = %s\nlog_dir = %s\nbpffs = %s\n%s\n%s" % (
                        name, BASE, BASE + 89, BASE + 99, self.control, self.state,
                        self.logs, self.bpffs, guard_extra,
                        services.replace("@DEMO@", PG_DEMO).replace("@DIR@", self.dir)))

    def cli(self, *args, check=None):
        r = subprocess.run([PORTGUARD, *args, "-c", self.conf], capture_output=True,
                           text=True, timeout=60)
        if check is not None and r.returncode != check:
            raise AssertionError("portguard %s: exit %d, expected %d\nstdout: %s\nstderr: %s"
                                 % (" ".join(args), r.returncode, check, r.stdout, r.stderr))
        return r

    def start(self, wait_running=True, prefix=()):
        self.err = open(self.stderr_path, "a")
        self.proc = subprocess.Popen([*prefix, PORTGUARD, "run", "-c", self.conf], stdout=self.err,
                                     stderr=self.err, start_new_session=True)
        try:
            wait_for(lambda: self.proc.poll() is not None or
                     self.cli("status", "--json").returncode != 3, 60, "the guard to answer")
        except AssertionError as e:
            raise AssertionError("%s; its stderr:\n%s" % (e, self.stderr()[-4000:]))
        if self.proc.poll() is not None:
            raise AssertionError("guard exited %d:\n%s" % (self.proc.returncode,
                                                            self.stderr()))
        if wait_running:
            wait_for(lambda: all(s["state"] == "RUNNING" for s in self.status()["services"]),
                     20, "every service RUNNING")
        return self

    def stderr(self):
        try:
            with open(self.stderr_path) as f:
                return f.read()
        except OSError:
            return ""

    def status(self):
        r = self.cli("status", "--json")
        return json.loads(r.stdout)

    def events(self, type_=None, rotated=False):
        """The journal's events (of type_), oldest first; rotated: also the
        files it rotated to (events.jsonl.3, .2, .1), for a test whose
        events a storm may have rotated out of events.jsonl."""
        path = os.path.join(self.state, "events.jsonl")
        paths = ["%s.%d" % (path, i) for i in (3, 2, 1)] if rotated else []
        out = []
        for p in paths + [path]:
            try:
                with open(p) as f:
                    for line in f:
                        if not line.endswith("\n"):
                            break  # being written: the guard writes whole lines
                        ev = json.loads(line)
                        if type_ is None or ev["type"] == type_:
                            out.append(ev)
            except FileNotFoundError:
                pass
        return out

    def service(self, name):
        for s in self.status()["services"]:
            if s["name"] == name:
                return s
        raise KeyError(name)

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def cgroup_dir(self):
        root = cg_root()
        return os.path.join(root, "portguard-" + self.name) if root else None

    def cleanup(self):
        try:
            if self.proc is not None and self.proc.poll() is None:
                try:
                    self.cli("shutdown")  # a guard that stopped answering: killed below
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            elif os.path.isdir(self.cgroup_dir() or "/nonexistent"):
                self.cli("shutdown")
        except subprocess.TimeoutExpired as e:  # whatever hung, what follows still runs
            print("cleanup: %r" % e, file=sys.stderr)
        remove_cgroup_tree(self.cgroup_dir())  # last resort: a failed test must leave nothing
        if os.path.ismount(self.bpffs):  # last resort: unpin (programs detach), unmount
            pins = os.path.join(self.bpffs, "portguard", self.name)
            for f in os.listdir(pins) if os.path.isdir(pins) else []:
                os.unlink(os.path.join(pins, f))
            subprocess.run(["umount", "-l", self.bpffs])
        if hasattr(self, "err"):
            self.err.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def kernel_lacks(g, what):
    """The guard's own start-up line saying this kernel lacks `what`, or None."""
    for line in g.stderr().splitlines():
        if "this kernel lacks " + what in line:
            return line.strip()
    return None


class Worker:
    """A process that opens, binds, listens and closes sockets on command."""

    def __init__(self, netns=None):
        cmd = [sys.executable, WORKER]
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, bufsize=1)
        self.pid = int(self.p.stdout.readline())

    def do(self, **cmd):
        self.p.stdin.write(json.dumps(cmd) + "\n")
        self.p.stdin.flush()
        r = json.loads(self.p.stdout.readline())
        return r

    def close(self):
        if self.p.poll() is None:
            try:
                self.do(op="quit")
            except Exception:
                pass
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def ss_claims(ports, netns=None):
    """{cookie: (proto, port, frozenset(pids))} for TCP listeners and bound UDP
    sockets on `ports`, from `ss -ltnupeH`."""
    cmd = ["ss", "-ltnupeH"]
    if netns:
        cmd = ["ip", "netns", "exec", netns] + cmd
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    res = {}
    for line in out.splitlines():
        f = line.split()
        proto = f[0]
        port = int(f[4].rsplit(":", 1)[1])
        if port not in ports:
            continue
        if proto == "udp" and f[5].rsplit(":", 1)[1] != "*":
            continue  # connected UDP
        pids = frozenset(int(p) for p in re.findall(r"pid=(\d+)", line))
        m = re.search(r"sk:([0-9a-f]+)", line)
        res[int(m.group(1), 16)] = (proto, port, pids)
    return res


def guard_claims(status, ports, host=True):
    res = {}
    for c in status.get("claims", []):
        if c["host"] != host or c["port"] not in ports or not c["holding"]:
            continue
        res[c["cookie"]] = (c["proto"], c["port"], frozenset(c["pids"]))
    return res


class GuardTest(unittest.TestCase):
    """Base: self.guard(...) makes a guard that is cleaned up after the test."""

    def setUp(self):
        self._pg_cleanups = []

    def tearDown(self):
        for fn in reversed(self._pg_cleanups):
            try:
                fn()
            except Exception as e:  # keep cleaning
                print("cleanup error: %r" % e, file=sys.stderr)

    def guard(self, **kw):
        g = Guard("pgtest%d" % os.getpid(), **kw)
        self._pg_cleanups.append(g.cleanup)
        return g

    def worker(self, netns=None):
        w = Worker(netns)
        self._pg_cleanups.append(w.close)
        return w

    def netns(self):
        name = "pgtest%d" % os.getpid()
        subprocess.run(["ip", "netns", "add", name], check=True)
        self._pg_cleanups.append(lambda: subprocess.run(["ip", "netns", "del", name]))
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
                       check=True)
        return name

    def popen(self, *args, **kw):
        p = subprocess.Popen(list(args), start_new_session=True, **kw)

        def stop():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self._pg_cleanups.append(stop)
        return p
