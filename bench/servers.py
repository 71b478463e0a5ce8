"""Restart with real servers (issue 13): Debian's nginx (`daemon on`, as
`type = forking` with its pidfile) and redis-server (`--daemonize no`, as a
simple service) under portguard, `portguard restart master` timed (the CLI
returns once both are back and listening); beside, in the same run, the same
two under a real supervisord (`supervisorctl restart all`, nginx with
`daemon off`), and, under systemd (the Debian guest of `make vmtest`), as two
units (nginx Type=forking with PIDFile=, redis Type=simple): `systemctl
restart` of both, timed to both active and listening. Servers missing (not
installed: tests/test-deps installs them) make the run fail loudly, never a
row that looks measured. Returns rows for bench/run.py; run alone it prints
them."""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests", "e2e"))
from restart import (PG, SystemdUnits, listening, systemd_row, timed,  # noqa: E402
                     under_systemd, wait)
from test_servers import NGINX, NGINX_CONF, REDIS  # noqa: E402

WEB = int(os.environ.get("PG_BENCH_BASE", "19200")) + 60
KV = WEB + 1
UNITS = ("pgbench-nginx.service", "pgbench-redis.service")


def nginx_cmd(d):
    return "%s -p %s/ -c %s/nginx.conf -e %s/nginx-error.log" % (NGINX, d, d, d)


def redis_cmd(d):
    return ("%s --port %d --bind 127.0.0.1 --save '' --appendonly no --dir %s "
            "--logfile %s/redis.log --daemonize no" % (REDIS, KV, d, d))


def write_nginx(d, daemon):
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF % {"daemon": daemon, "dir": d, "port": WEB})


def bench_portguard(d, runs):
    write_nginx(d, "on")
    conf = os.path.join(d, "portguard.conf")
    with open(conf, "w") as f:
        f.write("[guard]\nname = pgbenchsrv\nports = %d, %d\nmode = observe\n"
                "control = %s/ctl.sock\nstate_dir = %s/state\nlog_dir = %s/log\n\n"
                "[service:web]\ntype = forking\npidfile = %s/nginx.pid\ncommand = %s\n"
                "port = %d\nstop_timeout = 5s\nstart_timeout = 10s\n\n"
                "[service:kv]\ncommand = %s\nport = %d\nstop_timeout = 5s\n"
                "start_timeout = 10s\n" % (WEB, KV, d, d, d, d, nginx_cmd(d), WEB,
                                           redis_cmd(d), KV))
    guard = subprocess.Popen([PG, "run", "-c", conf], stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(d, "guard.log"), "w"),
                             start_new_session=True)
    try:
        wait(lambda: subprocess.run([PG, "status", "-c", conf], capture_output=True)
             .returncode == 0 and listening([WEB, KV]), "nginx and redis under portguard")
        timed([PG, "restart", "master", "-c", conf])  # warm-up
        res = [timed([PG, "restart", "master", "-c", conf]) for _ in range(runs)]
        if not listening([WEB, KV]):
            raise RuntimeError("nginx or redis not listening after portguard's restart")
        return res
    finally:
        subprocess.run([PG, "shutdown", "-c", conf], capture_output=True, timeout=60)
        guard.wait(30)


def bench_supervisord(d, runs):
    write_nginx(d, "off")
    conf = os.path.join(d, "supervisord.conf")
    with open(conf, "w") as f:
        f.write("[unix_http_server]\nfile = %s/supervisor.sock\n\n[supervisord]\n"
                "logfile = %s/supervisord.log\npidfile = %s/supervisord.pid\n"
                "childlogdir = %s\n\n[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory"
                " = supervisor.rpcinterface:make_main_rpcinterface\n\n[supervisorctl]\n"
                "serverurl = unix://%s/supervisor.sock\n\n[program:web]\ncommand = %s\n\n"
                "[program:kv]\ncommand = %s\n" % (d, d, d, d, d, nginx_cmd(d), redis_cmd(d)))
    subprocess.run(["supervisord", "-c", conf], check=True)
    ctl = ["supervisorctl", "-c", conf]
    try:
        def up():
            return subprocess.run(ctl + ["status"], capture_output=True, text=True) \
                .stdout.count("RUNNING") == 2 and listening([WEB, KV])
        wait(up, "nginx and redis under supervisord")
        res = []
        for i in range(runs + 1):  # the first is the warm-up
            t0 = time.monotonic()
            timed(ctl + ["restart", "all"])
            wait(lambda: listening([WEB, KV]), "both listening after supervisorctl restart")
            if i:
                res.append((time.monotonic() - t0) * 1000)
        return res
    finally:
        subprocess.run(ctl + ["shutdown"], capture_output=True, timeout=60)
        wait(lambda: not os.path.exists(os.path.join(d, "supervisord.pid")),
             "supervisord to exit")


def bench_systemd(d, runs):
    if not under_systemd():
        return None
    write_nginx(d, "on")
    units = {UNITS[0]: "Type=forking\nPIDFile=%s/nginx.pid\nExecStart=%s\n" % (d, nginx_cmd(d)),
             UNITS[1]: "Type=simple\nExecStart=%s\n" % redis_cmd(d)}
    with SystemdUnits(units) as u:
        return u.restarts(lambda: u.active() and listening([WEB, KV]), runs)


def run(runs=7):
    for exe in (NGINX, REDIS):
        if not os.access(exe, os.X_OK):
            raise RuntimeError("%s is not installed (tests/test-deps installs it)" % exe)
    d = tempfile.mkdtemp(prefix="pg-bench-srv-")
    try:
        for sub in ("pg", "sv", "sd"):  # each its own nginx.conf, pidfile and logs
            os.makedirs(os.path.join(d, sub))
        pg = bench_portguard(os.path.join(d, "pg"), runs)
        sv = bench_supervisord(os.path.join(d, "sv"), max(3, runs // 2)) \
            if shutil.which("supervisord") else None
        sd = bench_systemd(os.path.join(d, "sd"), runs)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    m = statistics.median(pg)
    label = ("restart master with real servers: Debian's nginx (daemon on, type = forking) "
             "and redis-server (simple), CLI wall time to both back and listening")
    rows = []
    if sv:
        rows.append((label, "%.0f ms (min %.0f, max %.0f)" % (m, min(pg), max(pg)),
                     "supervisorctl restart all (nginx daemon off), to both listening: %.0f ms"
                     % statistics.median(sv), "%.1fx faster" % (statistics.median(sv) / m)))
    else:
        rows.append((label, "%.0f ms" % m, "supervisord missing", "-"))
    if sd:
        rows.append(systemd_row("... beside systemd: nginx Type=forking + PIDFile=, redis "
                                "Type=simple, `systemctl restart` of both, to both active and "
                                "listening (same run)", m, sd))
    return rows


if __name__ == "__main__":
    for r in run(int(sys.argv[1]) if len(sys.argv) > 1 else 7):
        print(" | ".join(r))
