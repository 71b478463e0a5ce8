"""Restart benchmark: portguard master/quick/emergency restart of the 8
services of examples/trading.conf (moved to a test port range) against
`supervisorctl restart all` on a real supervisord running the same 8
programs, in the same run. Prints medians and ratios; returns rows for
bench/run.py."""
import configparser
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PG = os.path.join(ROOT, "build", "portguard")
DEMO = os.path.join(ROOT, "build", "pg-demo")
BASE = int(os.environ.get("PG_BENCH_BASE", "19200"))
UNIT_DIR = "/run/systemd/system"  # transient units: gone at reboot


def trading_services():
    cp = configparser.ConfigParser(inline_comment_prefixes=(";",), interpolation=None)
    cp.read(os.path.join(ROOT, "examples", "trading.conf"))
    svcs = []
    for sec in cp.sections():
        if sec.startswith("service:"):
            svcs.append((sec.split(":", 1)[1], dict(cp[sec])))
    return svcs


def port_map():
    real = [3000, 4000, 6000, 8001, 8002, 8003, 8004, 8005]
    return {p: BASE + i for i, p in enumerate(real)}


def command_for(cmd, pmap):
    cmd = cmd.replace("@DEMO@", DEMO)
    for real, test in pmap.items():
        cmd = cmd.replace("--port %d" % real, "--port %d" % test)
    return cmd


def trading_sections(d, pmap, start_window=None):
    """The [service:...] sections of examples/trading.conf on the ports of pmap."""
    out = []
    for svc, kv in trading_services():
        out.append("[service:%s]" % svc)
        for k, v in kv.items():
            if k == "pidfile":
                v = "%s/%s.pid" % (d, svc)
            elif k == "port":
                v = str(pmap[int(v)])
            elif k == "command":
                v = command_for(v, pmap)
            out.append("%s = %s" % (k, v))
        if start_window and "port" not in kv:
            out.append("start_window = %s" % start_window)
        out.append("")
    return out


def write_portguard_conf(d, name, start_window=None):
    pmap = port_map()
    out = ["[guard]", "name = %s" % name,
           "ports = %s" % ", ".join(str(p) for p in pmap.values()),
           "protected = %d, %d, %d, %d" % (BASE + 50, BASE + 51, BASE + 52, BASE + 53),
           "mode = observe", "control = %s/ctl.sock" % d, "state_dir = %s/state" % d,
           "log_dir = %s/log" % d, ""]
    out += trading_sections(d, pmap, start_window)
    path = os.path.join(d, "portguard.conf")
    with open(path, "w") as f:
        f.write("\n".join(out))
    return path


def write_supervisord_conf(d, pmap=None):
    """The 8 trading programs under a real supervisord (pmap: real port -> test port)."""
    pmap = pmap or port_map()
    out = ["[unix_http_server]", "file = %s/supervisor.sock" % d, "",
           "[supervisord]", "logfile = %s/supervisord.log" % d,
           "pidfile = %s/supervisord.pid" % d, "childlogdir = %s" % d, "",
           "[rpcinterface:supervisor]",
           "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface", "",
           "[supervisorctl]", "serverurl = unix://%s/supervisor.sock" % d, ""]
    for svc, kv in trading_services():
        out += ["[program:%s]" % svc, "command = %s" % command_for(kv["command"], pmap),
                "autorestart = true", ""]
    path = os.path.join(d, "supervisord.conf")
    with open(path, "w") as f:
        f.write("\n".join(out))
    return path


def timed(cmd):
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    dt = (time.monotonic() - t0) * 1000
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(cmd), r.returncode, r.stdout,
                                                     r.stderr))
    return dt


def wait(pred, what, timeout=30):
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise RuntimeError("timed out waiting for " + what)
        time.sleep(0.05)


def bench_portguard(d, runs, modes=("master", "quick", "emergency"), start_window=None):
    conf = write_portguard_conf(d, "pgbench", start_window)
    guard = subprocess.Popen([PG, "run", "-c", conf], stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(d, "guard.log"), "w"),
                             start_new_session=True)
    res = {}
    try:
        wait(lambda: subprocess.run([PG, "status", "-c", conf], capture_output=True)
             .returncode == 0, "the guard and its 8 services")
        for mode in modes:
            timed([PG, "restart", mode, "-c", conf])  # warm-up
            res[mode] = [timed([PG, "restart", mode, "-c", conf]) for _ in range(runs)]
    finally:
        subprocess.run([PG, "shutdown", "-c", conf], capture_output=True, timeout=60)
        guard.wait(30)
    return res


def bench_supervisord(d, runs):
    if not shutil.which("supervisord"):
        return None
    conf = write_supervisord_conf(d)
    subprocess.run(["supervisord", "-c", conf], check=True)
    ctl = ["supervisorctl", "-c", conf]
    try:
        wait(lambda: subprocess.run(ctl + ["status"], capture_output=True, text=True)
             .stdout.count("RUNNING") == 8, "supervisord's 8 programs")
        timed(ctl + ["restart", "all"])  # warm-up
        return [timed(ctl + ["restart", "all"]) for _ in range(runs)]
    finally:
        subprocess.run(ctl + ["shutdown"], capture_output=True, timeout=60)
        pid_file = os.path.join(d, "supervisord.pid")
        wait(lambda: not os.path.exists(pid_file), "supervisord to exit")


def listening(ports):
    """Every port of ports has a TCP listener (ss, one call)."""
    out = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True).stdout
    have = {int(line.split()[3].rsplit(":", 1)[1]) for line in out.splitlines() if line.split()}
    return set(ports) <= have


class SystemdUnits:
    """Transient bench units in /run/systemd/system (name -> [Service] lines), started
    on entry; stopped, removed and forgotten by systemd on exit, even after a failure.
    restarts(ready, runs) times `systemctl restart` of all of them to ready()."""

    def __init__(self, units):
        self.units = units

    def __enter__(self):
        try:
            for unit, body in self.units.items():
                with open(os.path.join(UNIT_DIR, unit), "w") as f:
                    # StartLimitIntervalSec=0: the runs restart each unit more often than
                    # the default start limit (5 in 10 s) allows
                    f.write("[Unit]\nDescription=portguard bench: %s\n"
                            "StartLimitIntervalSec=0\n[Service]\n%sKillMode=control-group\n"
                            "TimeoutStopSec=5\n" % (unit, body))
            subprocess.run(["systemctl", "daemon-reload"], check=True)
            subprocess.run(["systemctl", "start", *self.units], check=True, timeout=60)
        except BaseException:
            self.__exit__()
            raise
        return self

    def active(self):
        act = subprocess.run(["systemctl", "is-active", *self.units], capture_output=True,
                             text=True)
        return act.stdout.split() == ["active"] * len(self.units)

    def restarts(self, ready, runs):
        wait(ready, "the units")
        res = []
        for i in range(runs + 1):  # the first is the warm-up
            t0 = time.monotonic()
            subprocess.run(["systemctl", "restart", *self.units], check=True, timeout=60)
            wait(ready, "the units after a restart")
            if i:
                res.append((time.monotonic() - t0) * 1000)
        return res

    def __exit__(self, *exc):
        subprocess.run(["systemctl", "stop", *self.units], capture_output=True, timeout=60)
        for unit in self.units:
            try:
                os.unlink(os.path.join(UNIT_DIR, unit))
            except OSError:
                pass
        subprocess.run(["systemctl", "daemon-reload"], capture_output=True)


def under_systemd():
    return os.path.isdir(UNIT_DIR) and shutil.which("systemctl")


def bench_systemd(d, runs):
    """The same 8 programs as systemd units (under systemd only: the Debian guest of make
    vmtest): `systemctl restart` of all eight, timed to all listening and active."""
    if not under_systemd():
        return None
    pmap = port_map()
    units = {"pgbench-%s.service" % svc: "Type=simple\nExecStart=%s\n"
             % command_for(kv["command"], pmap) for svc, kv in trading_services()}
    ports = list(pmap.values())[:4]  # the four http services listen; the workers do not
    with SystemdUnits(units) as u:
        return u.restarts(lambda: u.active() and listening(ports), runs)


def run(runs=7):
    d = tempfile.mkdtemp(prefix="pg-bench-")
    try:
        pg = bench_portguard(d, runs)
        fast = bench_portguard(d, runs, ("master",), "20ms")
        sv = bench_supervisord(d, max(3, runs // 2))
        sd = bench_systemd(d, runs)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    rows = []
    svm = statistics.median(sv) if sv else None
    base = "supervisorctl restart all: %.0f ms" % svm if svm else "supervisord missing"
    for label, v in [("restart %s" % k, v) for k, v in pg.items()] + \
            [("restart master, start_window = 20ms", fast["master"])]:
        m = statistics.median(v)
        rows.append(("%s (8 services, CLI wall time)" % label, "%.0f ms" % m, base,
                     "%.1fx faster" % (svm / m) if svm else "-"))
    if sd:
        m = statistics.median(pg["master"])
        rows.append(systemd_row("restart master beside systemd: the 8 as units, `systemctl "
                                "restart` of all eight, to all listening and active (same "
                                "run)", m, sd))
    return rows


def systemd_row(label, m, sd):
    """A row of portguard's median m (ms) beside systemd's runs sd."""
    return (label, "%.0f ms" % m, "systemctl restart: %.0f ms (min %.0f, max %.0f)"
            % (statistics.median(sd), min(sd), max(sd)),
            "%.1fx faster" % (statistics.median(sd) / m))


if __name__ == "__main__":
    for r in run(int(sys.argv[1]) if len(sys.argv) > 1 else 7):
        print(" | ".join(r))
