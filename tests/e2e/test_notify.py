"""The sd_notify protocol to a service manager (issue 10): READY=1 once the
guard guards, STATUS= kept current, RELOADING=1 then READY=1 on a reload,
STOPPING=1 at the end. A datagram socket of the test plays systemd."""
import os
import socket
import subprocess
import sys
import time

from pgtest import BASE, PORTGUARD, GuardTest, wait_for

WEB = BASE + 0


class NotifyTest(GuardTest):
    def test_ready_status_reloading_stopping(self):
        sock_path = os.path.join(self.tmpdir(), "notify.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(sock_path)
        self.addCleanup(s.close)
        s.settimeout(20)
        g = self.guard(services="[service:web]\ncommand = @DEMO@ http --port %d --name web\n"
                                "port = %d\nhealth = /health\nstop_timeout = 1s\n" % (WEB, WEB))
        env = dict(os.environ, NOTIFY_SOCKET=sock_path)
        err = open(os.path.join(g.dir, "guard.stderr"), "w")
        self.addCleanup(err.close)
        g.proc = subprocess.Popen([PORTGUARD, "run", "-c", g.conf], env=env, stdout=err,
                                  stderr=err, start_new_session=True)
        got = []

        def until(pred, what):
            while not any(pred(m) for m in got):
                try:
                    got.append(s.recv(4096).decode())
                except socket.timeout:
                    raise AssertionError("no %s; got %r" % (what, got))
        until(lambda m: m == "READY=1", "READY=1")
        # the guard answers by then: READY means guarding, not merely started
        self.assertNotEqual(g.cli("status").returncode, 3)
        until(lambda m: m.startswith("STATUS=") and "1/1 services running" in m,
              "STATUS with web running")
        self.assertRegex([m for m in got if m.startswith("STATUS=")][-1],
                         r"^STATUS=pgtest\d+, observe: 1/1 services running, 0 binds denied, "
                         r"0 events lost$")
        # the services do not inherit the socket: they cannot speak for the guard's unit
        with open("/proc/%d/environ" % g.service("web")["pid"], "rb") as f:
            self.assertNotIn(b"NOTIFY_SOCKET", f.read())
        del got[:]
        self.assertEqual(g.cli("reload").returncode, 0)
        until(lambda m: m == "READY=1", "READY=1 after the reload")
        self.assertIn("RELOADING=1", got)
        self.assertLess(got.index("RELOADING=1"), got.index("READY=1"))
        g.cli("shutdown", check=0)
        until(lambda m: m == "STOPPING=1", "STOPPING=1")
        g.proc.wait(10)

    def test_status_at_most_once_a_second_in_a_storm_and_the_last_word_sent(self):
        """Each batch of a storm changes the count of denials; pid 1 gets at most one
        STATUS= a second, and the one after the storm has its final count."""
        sock_path = os.path.join(self.tmpdir(), "notify.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(sock_path)
        self.addCleanup(s.close)
        s.settimeout(60)  # a guard's start takes seconds under qemu's TCG (make vmtest)
        g = self.guard(services="")
        with open(g.conf) as f:
            text = f.read().replace("mode = observe", "mode = enforce")
        with open(g.conf, "w") as f:
            f.write(text)
        err = open(os.path.join(g.dir, "guard.stderr"), "w")
        self.addCleanup(err.close)
        g.proc = subprocess.Popen([PORTGUARD, "run", "-c", g.conf], stdout=err, stderr=err,
                                  env=dict(os.environ, NOTIFY_SOCKET=sock_path),
                                  start_new_session=True)
        while s.recv(4096) != b"READY=1":
            pass
        # 300 processes, 30 denied binds each: each process's first goes through the
        # ring (a wake-up, a new count), its repeats are folded in the kernel
        n, t0 = 300 * 30, time.monotonic()
        subprocess.run([sys.executable, "-c",
                        "import os, socket\nfor c in range(300):\n"
                        "    if os.fork() == 0:\n"
                        "        for i in range(30):\n"
                        "            x = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                        "            try: x.bind(('127.0.0.1', %d))\n"
                        "            except OSError: pass\n"
                        "            x.close()\n"
                        "        os._exit(0)\n"
                        "    os.wait()\n" % (BASE + 12)], check=True, timeout=600)
        got, want = [], "%d binds denied" % n
        while not any(want in m for m in got):
            try:
                got.append(s.recv(4096).decode())
            except socket.timeout:
                raise AssertionError("no STATUS with %r; got %r" % (want, got[-3:]))
        secs = time.monotonic() - t0
        status = [m for m in got if m.startswith("STATUS=")]
        self.assertLessEqual(len(status), secs + 2, "%d STATUS= in %.1f s" % (len(status), secs))

    def tmpdir(self):
        import shutil
        import tempfile
        d = tempfile.mkdtemp(prefix="pg-e2e-n-")
        self.addCleanup(shutil.rmtree, d, True)
        return d
