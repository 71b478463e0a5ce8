"""Real servers nobody here wrote, from Debian's packages (tests/test-deps
installs them for `make test` alone), supervised as services (issue 13):
nginx with `daemon on` (forking, through its pidfile) and `daemon off`
(simple), redis-server with and without `daemonize yes`. Each: start,
listening and answering, every restart mode with new pids, nginx's workers
counted as the service's and one killed, adoption after a guard kill -9, and
nothing left after shutdown. And a real supervisord's config imported
(`portguard import supervisord`) while it runs, then run by a guard."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from pgtest import BASE, PORTGUARD, GuardTest, pid_alive, wait_for

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
PORT = BASE + 30

NGINX_CONF = """daemon %(daemon)s;
master_process on;
worker_processes 2;
pid %(dir)s/nginx.pid;
error_log %(dir)s/nginx-error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %(dir)s/body;
    proxy_temp_path %(dir)s/proxy;
    fastcgi_temp_path %(dir)s/fastcgi;
    uwsgi_temp_path %(dir)s/uwsgi;
    scgi_temp_path %(dir)s/scgi;
    server {
        listen 127.0.0.1:%(port)d;
        location / { return 200 "ok\\n"; }
    }
}
"""


def nginx_service(forking):
    return ("[service:web]\n%scommand = %s -p @DIR@/ -c @DIR@/nginx.conf -e @DIR@/nginx-error.log\n"
            "port = %d\nhealth = /\nstop_timeout = 5s\nstart_timeout = 10s\n\n"
            % ("type = forking\npidfile = @DIR@/nginx.pid\n" if forking else "", NGINX, PORT))


def redis_service(forking):
    daemon = "--daemonize yes --pidfile @DIR@/redis.pid" if forking else "--daemonize no"
    return ("[service:kv]\n%scommand = %s --port %d --bind 127.0.0.1 --save '' --appendonly no "
            "--dir @DIR@ --logfile @DIR@/redis.log %s\nport = %d\nstop_timeout = 5s\n"
            "start_timeout = 10s\n\n"
            % ("type = forking\npidfile = @DIR@/redis.pid\n" if forking else "", REDIS, PORT,
               daemon, PORT))


def ask(port, data, want):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        got = b""
        while want not in got:
            b = s.recv(4096)
            if not b:
                break
            got += b
    return want in got


def http_ok(port):
    return ask(port, b"GET / HTTP/1.0\r\n\r\n", b"ok\n")


def redis_ok(port):
    return ask(port, b"PING\r\n", b"+PONG")


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def procs_of(g, name):
    try:
        with open(os.path.join(g.cgroup_dir(), name, "cgroup.procs")) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


class ServersTest(GuardTest):
    def server(self, binary, services, conf=None):
        if not os.access(binary, os.X_OK):
            self.skipTest("%s is not installed (tests/test-deps installs it)" % binary)
        g = self.guard(services=services)
        if conf:
            with open(os.path.join(g.dir, "nginx.conf"), "w") as f:
                f.write(conf % {"dir": g.dir, "port": PORT, "daemon": conf_daemon(services)})
        return g.start()

    def lifecycle(self, g, name, ok, workers=0):
        """Listening and answering; every restart mode; adoption; nothing left after shutdown. And a real supervisord's config imported
(`portguard import supervisord`) while it runs, then run by a guard."""
        wait_for(lambda: g.service(name)["listening"], 10, "%s listening" % name)
        self.assertTrue(ok(PORT))
        seen = [g.service(name)["pid"]]
        if workers:
            self.check_workers(g, name, workers)
        for mode in ("master", "quick", "emergency"):
            r = g.cli("restart", mode)
            self.assertEqual(r.returncode, 0, "restart %s: %s %s" % (mode, r.stdout, r.stderr))
            s = g.service(name)
            self.assertEqual(s["state"], "RUNNING", (mode, s))
            self.assertNotIn(s["pid"], seen, mode)
            self.assertFalse(pid_alive(seen[-1]), "%s: the old main process lives" % mode)
            seen.append(s["pid"])
            wait_for(lambda: ok(PORT), 10, "%s answering after restart %s" % (name, mode))
        g.kill9()
        self.assertTrue(pid_alive(seen[-1]))
        g.start()
        self.assertEqual(g.service(name)["pid"], seen[-1])  # adopted, not restarted
        self.assertIn("service_adopt", [e["type"] for e in g.events()])
        self.assertTrue(ok(PORT))
        left = procs_of(g, name)
        self.assertTrue(left)
        r = g.cli("shutdown")
        self.assertEqual(r.returncode, 0, r.stderr)
        g.proc.wait(20)
        for pid in left:
            self.assertFalse(pid_alive(pid), "pid %d outlived the shutdown" % pid)
        self.assertFalse(os.path.exists(os.path.join(g.cgroup_dir(), name)))

    def check_workers(self, g, name, n):
        """nginx's workers are the service's: on its port's holders; one killed is respawned."""
        main = g.service(name)["pid"]
        workers = wait_for(lambda: len(children(main)) == n and children(main), 10,
                           "%d workers" % n)
        port = [p for p in g.status()["ports"] if p["port"] == PORT][0]
        self.assertEqual(port["state"], "owned", port)
        holders = {h["pid"] for h in port["holders"]}
        self.assertTrue(set(workers) <= holders | {main}, (workers, port["holders"]))
        os.kill(workers[0], signal.SIGKILL)
        wait_for(lambda: len(children(main)) == n and workers[0] not in children(main), 10,
                 "the killed worker respawned by nginx")
        time.sleep(0.3)
        s = g.service(name)
        self.assertEqual((s["state"], s["pid"]), ("RUNNING", main))  # nothing restarted
        self.assertTrue(http_ok(PORT))

    def test_nginx_daemon_off_as_simple(self):
        g = self.server(NGINX, nginx_service(False), NGINX_CONF)
        self.lifecycle(g, "web", http_ok, workers=2)

    def test_nginx_daemon_on_as_forking(self):
        g = self.server(NGINX, nginx_service(True), NGINX_CONF)
        self.assertEqual(g.service("web")["type"], "forking")
        with open(os.path.join(g.dir, "nginx.pid")) as f:
            self.assertEqual(int(f.read()), g.service("web")["pid"])
        self.lifecycle(g, "web", http_ok, workers=2)

    def test_redis_as_simple(self):
        g = self.server(REDIS, redis_service(False))
        self.lifecycle(g, "kv", redis_ok)

    def test_redis_daemonize_yes_as_forking(self):
        g = self.server(REDIS, redis_service(True))
        with open(os.path.join(g.dir, "redis.pid")) as f:
            self.assertEqual(int(f.read()), g.service("kv")["pid"])
        self.lifecycle(g, "kv", redis_ok)


SUPERVISORD = shutil.which("supervisord") or "/usr/bin/supervisord"
WEBPORT = BASE + 40

SV_MAIN = """; the seed host's supervisord, in small
[unix_http_server]
file = %(dir)s/supervisor.sock

[supervisord]
logfile = %(dir)s/supervisord.log
pidfile = %(dir)s/supervisord.pid

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl = unix://%(dir)s/supervisor.sock

[include]
files = conf.d/*.conf
"""

SV_PROGRAMS = """[program:web]
command = %(python)s -m http.server %(port)d --bind 127.0.0.1   ; the seed's web
directory = /tmp
environment = MODE="live",LEVEL=3
autorestart = unexpected
startsecs = 1
stopsignal = INT
stopwaitsecs = 7
priority = 10
stdout_logfile = %(dir)s/web.log

[program:worker]
command = /bin/sleep 1000%%(process_num)d
process_name = %%(program_name)s_%%(process_num)02d
numprocs = 2
priority = 50
autorestart = true

[group:desk]
programs = web,worker
"""


class ImportTest(GuardTest):
    def test_import_a_running_supervisord_then_run_what_it_wrote(self):
        if not os.access(SUPERVISORD, os.X_OK):
            self.skipTest("supervisord is not installed (tests/test-deps installs it)")
        g = self.guard()
        d = os.path.join(g.dir, "sv")
        os.makedirs(os.path.join(d, "conf.d"))
        conf = os.path.join(d, "supervisord.conf")
        with open(conf, "w") as f:
            f.write(SV_MAIN % {"dir": d})
        with open(os.path.join(d, "conf.d", "desk.conf"), "w") as f:
            f.write(SV_PROGRAMS % {"dir": d, "python": sys.executable, "port": WEBPORT})
        subprocess.run([SUPERVISORD, "-c", conf], check=True, timeout=30)

        def stop_supervisord():
            subprocess.run(["supervisorctl", "-c", conf, "shutdown"], capture_output=True,
                           timeout=30)
            try:
                with open(os.path.join(d, "supervisord.pid")) as f:
                    pid = int(f.read())
                wait_for(lambda: not pid_alive(pid), 20, "supervisord gone")
            except (OSError, ValueError):
                pass
        self._pg_cleanups.append(stop_supervisord)
        wait_for(lambda: ask_ok(WEBPORT), 20, "supervisord's web listening")
        out = os.path.join(g.dir, "imported.conf")
        r = subprocess.run([PORTGUARD, "import", "supervisord", conf, "-o", out],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out) as f:
            text = f.read()
        r = subprocess.run([PORTGUARD, "check", "-c", out], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr + text)
        self.assertIn("ports = %d\n" % WEBPORT, text)
        web = text.split("[service:web]\n")[1].split("\n\n")[0]
        for line in ("command = %s -m http.server %d --bind 127.0.0.1" % (sys.executable, WEBPORT),
                     "directory = /tmp", "environment = MODE=live, LEVEL=3",
                     "restart = on-failure", "start_window = 1s", "stop_signal = INT",
                     "stop_timeout = 7s", "priority = 10", "port = %d" % WEBPORT):
            self.assertIn(line + "\n", web, web)
        self.assertIn("# stdout_logfile = %s/web.log: not mapped" % d, web)
        for n in ("worker_00", "worker_01"):
            self.assertIn("[service:%s]\ncommand = /bin/sleep 1000%s\n" % (n, n[-1]), text)
        self.assertIn("# [group:desk]", text)
        self.assertIn("# [supervisord] (%s:5): supervisord's own settings" % conf, text)
        # what it wrote runs: supervisord stopped, the services under a guard of the test
        stop_supervisord()
        services = text[text.index("\n# [program:web]"):]
        g2 = self.guard(services=services).start()
        wait_for(lambda: g2.service("web")["listening"], 20, "web listening under portguard")
        self.assertTrue(ask_ok(WEBPORT))
        self.assertEqual(sorted(s["name"] for s in g2.status()["services"]),
                         ["web", "worker_00", "worker_01"])

    def test_import_refuses_what_is_not_a_config(self):
        """A FIFO, a device, a directory, a missing file, a FIFO named by [include]:
        each a one-line error naming it and a non-zero exit, never a hang or a read
        that grows without end (/dev/zero); the output file is not written."""
        d = tempfile.mkdtemp(prefix="pg-e2e-imp-")
        self._pg_cleanups.append(lambda: shutil.rmtree(d, ignore_errors=True))
        fifo = os.path.join(d, "fifo.conf")
        os.mkfifo(fifo)
        inc = os.path.join(d, "inc.conf")
        with open(inc, "w") as f:
            f.write("[include]\nfiles = fifo.conf\n[program:a]\ncommand = /bin/true\n")
        out = os.path.join(d, "out.conf")
        for path, why in ((fifo, "not a regular file"), ("/dev/zero", "not a regular file"),
                          (d, "Is a directory"), (os.path.join(d, "nope.conf"), "cannot read"),
                          (inc, "not a regular file")):
            r = subprocess.run([PORTGUARD, "import", "supervisord", path, "-o", out],
                               capture_output=True, text=True, timeout=30)
            self.assertNotEqual(r.returncode, 0, path)
            lines = r.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, r.stderr)
            self.assertIn(why, lines[0])
            self.assertTrue(lines[0].startswith(fifo if path == inc else path), lines[0])
            self.assertFalse(os.path.exists(out), path)


def ask_ok(port):
    try:
        return ask(port, b"GET / HTTP/1.0\r\n\r\n", b"200")
    except OSError:
        return False


def conf_daemon(services):
    return "on" if "type = forking" in services else "off"


if __name__ == "__main__":
    unittest.main()
