"""End-to-end tests of the service types beyond simple ones (issue 13): a
daemon that forks (`type = forking`, supervised through its own pidfile)."""
import os
import signal
import subprocess
import sys
import time

from pgtest import BASE, GuardTest, pid_alive, wait_for

PORT = BASE + 20

# A classic daemon: the start command forks and exits 0, the child starts a
# session and forks again, the grandchild (optionally) listens, waits `delay`,
# then writes its pid to the pidfile (tmp + rename), or the pid given as
# `name_pid` instead: a pidfile naming something else.
DAEMON = r"""
import os, socket, sys, time
pidfile, port, delay, name_pid = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
if os.fork():
    os._exit(0)
os.setsid()
if os.fork():
    os._exit(0)
if port:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen()
time.sleep(delay)
with open(pidfile + ".tmp", "w") as f:
    f.write("%d\n" % (name_pid or os.getpid()))
os.rename(pidfile + ".tmp", pidfile)
while True:
    time.sleep(3600)
"""


def forking(name, port=0, delay=0.0, name_pid=0, extra=""):
    return ("[service:%s]\ntype = forking\npidfile = @DIR@/%s.pid\n"
            "command = %s @DIR@/daemon.py @DIR@/%s.pid %d %g %d\n%sstop_timeout = 2s\n"
            "start_timeout = 5s\n%s\n"
            % (name, name, sys.executable, name, port, delay, name_pid,
               "port = %d\n" % port if port else "", extra))


def running_other(g, name, old):
    s = g.service(name)  # one status: state and pid of the same moment
    return s["state"] == "RUNNING" and s["pid"] not in (None, 0, old)


def read_pid(path):
    with open(path) as f:
        return int(f.read())


class ForkingTest(GuardTest):
    def guard(self, **kw):
        g = super().guard(**kw)
        with open(os.path.join(g.dir, "daemon.py"), "w") as f:
            f.write(DAEMON)
        return g

    def test_daemon_is_supervised_by_its_pidfile_through_restarts_and_kills(self):
        g = self.guard(services=forking("d", PORT, delay=0.3)).start()
        pidfile = os.path.join(g.dir, "d.pid")
        s = g.service("d")
        self.assertEqual(s["pid"], read_pid(pidfile), s)  # the daemon, not its start command
        self.assertEqual(s["type"], "forking")
        wait_for(lambda: g.service("d")["listening"], 10, "d listening")
        # the pidfile is the daemon's: the guard does not write it
        self.assertEqual(read_pid(pidfile), s["pid"])
        first = s["pid"]
        os.kill(first, signal.SIGKILL)  # the daemon dies: restarted, its new pidfile read
        wait_for(lambda: running_other(g, "d", first), 20, "d restarted with a new pid")
        second = g.service("d")["pid"]
        self.assertEqual(second, read_pid(pidfile))
        g.cli("restart", check=0)
        third = g.service("d")["pid"]
        self.assertNotIn(third, (first, second))
        self.assertFalse(pid_alive(second))
        self.assertEqual(third, read_pid(pidfile))
        ev = [e["type"] for e in g.events() if e.get("service") == "d"]
        self.assertNotIn("service_fatal", ev)
        g.cli("stop", "d", check=0)
        self.assertFalse(pid_alive(third))
        self.assertEqual(g.service("d")["state"], "STOPPED")

    def test_adopted_after_a_guard_kill9(self):
        g = self.guard(services=forking("d")).start()
        pid = g.service("d")["pid"]
        g.kill9()
        self.assertTrue(pid_alive(pid))
        g.start()
        self.assertEqual(g.service("d")["pid"], pid)
        self.assertIn("service_adopt", [e["type"] for e in g.events()])
        os.kill(pid, signal.SIGTERM)  # the adopted daemon still restarts when it dies
        wait_for(lambda: running_other(g, "d", pid), 20, "d restarted after adoption")

    def test_pidfile_naming_a_process_outside_the_cgroup_is_never_supervised_nor_killed(self):
        outsider = self.popen(sys.executable, "-c", "import time; time.sleep(600)")
        g = self.guard(services=forking("liar", name_pid=outsider.pid, extra="restart = never\n"))
        g.start(wait_running=False)
        wait_for(lambda: g.service("liar")["state"] == "EXITED", 20, "liar EXITED")
        ev = [e for e in g.events("service_exit") if e.get("service") == "liar"]
        self.assertTrue(any("not in the service's cgroup" in (e.get("detail") or "")
                            for e in ev), ev)
        self.assertTrue(pid_alive(outsider.pid))  # named, never signalled
        time.sleep(0.5)
        self.assertTrue(pid_alive(outsider.pid))
        cg = os.path.join(g.cgroup_dir(), "liar", "cgroup.procs")
        with open(cg) as f:
            self.assertEqual(f.read().split(), [])  # the liar itself is gone

    def test_start_command_failing_or_daemon_dying_fails_the_start(self):
        bad = ("[service:bad]\ntype = forking\npidfile = @DIR@/bad.pid\ncommand = /bin/false\n"
               "restart = never\n\n")
        g = self.guard(services=bad).start(wait_running=False)
        wait_for(lambda: g.service("bad")["state"] == "EXITED", 20, "bad EXITED")
        ev = [e.get("detail") for e in g.events("service_exit") if e.get("service") == "bad"]
        self.assertIn("exited with status 1", ev)

    def test_forking_needs_a_pidfile(self):
        g = self.guard(services="[service:x]\ntype = forking\ncommand = /bin/true\n\n")
        r = g.cli("check")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("type forking needs a pidfile", r.stderr)


if __name__ == "__main__":
    import unittest
    unittest.main()
