"""End-to-end tests of portguard: root, the real BPF programs, real processes
making real bind()/listen() calls, on the test port range (PG_TEST_BASE,
default 19000..19099), with their own instance name, cgroup, control socket
and state directory. Ends with one line: "e2e: N passed, N failed, N skipped".
"""
import errno
import json
import os
import random
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pgtest import (BASE, PG_DEMO, PORTGUARD, GuardTest, guard_claims, pid_alive,  # noqa: E402
                    ss_claims, wait_for)
import test_defaults  # noqa: E402
import test_enforce  # noqa: E402
import test_hostile  # noqa: E402
import test_journald  # noqa: E402
import test_listen  # noqa: E402
import test_notify  # noqa: E402
import test_prometheus  # noqa: E402
import test_reload  # noqa: E402
import test_servers  # noqa: E402
import test_services  # noqa: E402
import test_restart  # noqa: E402
import test_storm  # noqa: E402
import test_upgrade  # noqa: E402

WEB = BASE + 0        # owned by the http service "web"
WEB2 = BASE + 1       # owned by "web2"
RESERVED = BASE + 10  # guarded, owned by nobody
FREE = range(BASE + 20, BASE + 40)  # guarded, used by the random claim test
PROTECTED = BASE + 99


def http_service(name, port, extra="", prio=10, pidfile=False):
    return ("[service:%s]\ncommand = @DEMO@ http --port %d --name %s %s\nport = %d\n"
            "health = /health\nstop_timeout = 2s\npriority = %d\n%s\n"
            % (name, port, name, extra, port, prio,
               "pidfile = @DIR@/%s.pid\n" % name if pidfile else ""))


def bg_service(name, extra="", prio=50):
    return ("[service:%s]\ncommand = @DEMO@ background --name %s %s\nstop_timeout = 2s\n"
            "priority = %d\n\n" % (name, name, extra, prio))


class CheckTest(GuardTest):
    def test_check_accepts_the_example(self):
        g = self.guard(services=http_service("web", WEB) + bg_service("worker"))
        r = g.cli("check", check=0)
        self.assertIn("ok", r.stdout)

    def test_check_reports_every_error_with_file_and_line(self):
        g = self.guard(services="[service:a]\nport = %d\n\n[service:b]\ncommand = x\n"
                                "port = %d\nstart_timeout = soon\n" % (PROTECTED, 70000))
        r = g.cli("check", check=2)
        lines = r.stderr.strip().splitlines()
        self.assertGreaterEqual(len(lines), 3, r.stderr)
        for line in lines:
            self.assertRegex(line, r"^%s:\d+: " % g.conf)
        self.assertIn("command", r.stderr)
        self.assertIn("soon", r.stderr)

    def test_run_refuses_a_bad_config_and_no_guard_runs(self):
        g = self.guard(services="[service:a]\ncommand = x\nport = 70000\n")
        r = subprocess.run([PORTGUARD, "run", "-c", g.conf], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertRegex(r.stderr, r"%s:\d+: " % g.conf)
        self.assertFalse(os.path.exists(g.control), "no control socket was created")
        self.assertFalse(os.path.exists(g.cgroup_dir()), "no cgroup was created")

    def test_options_anywhere_and_help(self):
        r = subprocess.run([PORTGUARD, "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertIn("status", r.stdout)
        r = subprocess.run([PORTGUARD, "status", "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertIn("sock_diag", r.stdout)
        g = self.guard()
        r = subprocess.run([PORTGUARD, "--json", "-c", g.conf, "status"], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 3)
        self.assertFalse(json.loads(r.stdout)["guard"]["running"])


class GuardBasics(GuardTest):
    def start(self, **kw):
        kw.setdefault("services", http_service("web", WEB, pidfile=True) + bg_service("worker"))
        return self.guard(**kw).start()

    def test_status_check_is_what_a_monitor_pages_on(self):
        g = self.guard(services=http_service("web", WEB) + bg_service("worker") +
                       bg_service("crash", "--exit-after 10 --exit-code 1", prio=60))
        g.start(wait_running=False)  # crash never stays RUNNING
        wait_for(lambda: g.service("crash")["state"] == "FATAL", 30, "crash FATAL")
        r = g.cli("status", "--check")
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertTrue(r.stdout.startswith("PORTGUARD CRITICAL - 2/3 services running (crash "
                                            "FATAL)"), r.stdout)
        self.assertEqual(len(r.stdout.splitlines()), 1)
        self.assertIn("| services_running=2 rogue_ports=0 events_lost=0", r.stdout)
        with open(g.conf) as f:
            text = f.read()
        with open(g.conf, "w") as f:
            f.write(text[:text.index("[service:crash]")])
        self.assertEqual(g.cli("reload").returncode, 0)
        r = g.cli("status", "--check")
        self.assertEqual((r.returncode, r.stdout.split(" - ")[0]), (0, "PORTGUARD OK"), r.stdout)
        w = self.worker()
        w.do(op="open", id="x", port=RESERVED, listen=True)  # a stranger: a look, not a page
        wait_for(lambda: g.cli("status", "--check").returncode == 1, 10, "WARNING")
        self.assertIn("1 ports held by strangers", g.cli("status", "--check").stdout)
        g.cli("stop", "worker", check=0)
        r = g.cli("status", "--check")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("(worker STOPPED)", r.stdout)
        g.kill9()
        r = g.cli("status", "--check")
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertIn("PORTGUARD CRITICAL - no guard is running", r.stdout)

    def test_status_json_shape(self):
        g = self.start()
        st = g.status()
        self.assertTrue(st["guard"]["running"])
        self.assertEqual(st["guard"]["pid"], g.proc.pid)
        self.assertEqual(st["guard"]["mode"], "observe")
        for k in ("uptime_s", "events", "lost"):
            self.assertIn(k, st["guard"])
        web = [s for s in st["services"] if s["name"] == "web"][0]
        self.assertEqual(web["state"], "RUNNING")
        self.assertEqual(web["port"], WEB)
        wait_for(lambda: g.service("web")["listening"], 10, "web listening")
        ports = {p["port"]: p for p in g.status()["ports"]}
        self.assertEqual(ports[WEB]["state"], "owned")
        self.assertEqual(ports[WEB]["owner"], "web")
        self.assertEqual([h["pid"] for h in ports[WEB]["holders"]], [web["pid"]])
        self.assertEqual(ports[WEB]["holders"][0]["service"], "web")
        self.assertEqual(ports[RESERVED]["state"], "free")
        self.assertEqual(ports[PROTECTED]["state"], "protected")
        self.assertEqual(g.cli("status").returncode, 0)
        # The service's pid is a process id, and the pidfile-free service is in its cgroup.
        with open("/proc/%d/cgroup" % web["pid"]) as f:
            self.assertIn("portguard-%s/web" % g.name, f.read())
        # The pidfile names the service's process.
        pidfile = os.path.join(g.dir, "web.pid")
        with open(pidfile) as f:
            self.assertEqual(int(f.read()), web["pid"])
        # The journal has the lifecycle.
        types = [e["type"] for e in g.events() if e.get("service") == "web"]
        self.assertIn("service_start", types)
        self.assertIn("service_ready", types)

    def test_rogue_bind_is_exactly_one_event_with_pid_and_port(self):
        g = self.start()
        wait_for(lambda: g.service("web")["listening"], 10, "web listening")
        w = self.worker()
        r = w.do(op="open", id="a", port=WEB, reuseaddr=True)
        self.assertEqual(r.get("errno"), errno.EADDRINUSE)  # observe mode: the kernel said no
        r = w.do(op="open", id="b", port=RESERVED, listen=True)
        self.assertTrue(r["ok"])
        wait_for(lambda: len(g.events("rogue_bind")) >= 2, 10, "two rogue_bind events")
        w.do(op="close", id="b")
        w.do(op="close", id="a")
        wait_for(lambda: any(e["type"] == "release" and e["port"] == RESERVED
                             for e in g.events()), 10, "the release")
        rogue = g.events("rogue_bind")
        self.assertEqual(sorted((e["pid"], e["port"]) for e in rogue),
                         sorted([(w.pid, WEB), (w.pid, RESERVED)]), rogue)
        by_port = {e["port"]: e for e in rogue}
        self.assertEqual(by_port[WEB]["service"], "web")
        self.assertIsNone(by_port[RESERVED]["service"])
        self.assertEqual(by_port[WEB]["comm"], "python3")
        self.assertEqual(by_port[WEB]["uid"], 0)
        self.assertRegex(by_port[WEB]["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        conflicts = g.status()["conflicts"]
        self.assertEqual(len([c for c in conflicts if c["type"] == "rogue_bind"]), 2)

    def test_connected_client_is_not_a_holder(self):
        g = self.start()
        wait_for(lambda: g.service("web")["listening"], 10, "web listening")
        w = self.worker()
        self.assertTrue(w.do(op="connect", id="c", port=WEB)["ok"])
        time.sleep(0.2)  # let any (wrong) event arrive; the assertion is on content
        st = g.status()
        holders = [h["pid"] for p in st["ports"] if p["port"] == WEB for h in p["holders"]]
        self.assertEqual(holders, [g.service("web")["pid"]])
        self.assertNotIn(w.pid, [pid for c in st["claims"] for pid in c["pids"]])
        self.assertEqual(g.events("rogue_bind"), [])
        w.do(op="close", id="c")

    def test_owner_blocked_by_a_stranger_is_a_port_conflict_naming_it(self):
        w = self.worker()
        self.assertTrue(w.do(op="open", id="s", port=WEB, reuseaddr=True, listen=True)["ok"])
        g = self.guard(services=http_service("web", WEB, prio=10) +
                       bg_service("worker")).start(wait_running=False)
        wait_for(lambda: g.events("port_conflict"), 15, "a port_conflict event")
        ev = g.events("port_conflict")[0]
        self.assertEqual(ev["service"], "web")
        self.assertEqual(ev["port"], WEB)
        self.assertEqual([h["pid"] for h in ev["holders"]], [w.pid], ev)
        ports = {p["port"]: p for p in g.status()["ports"]}
        self.assertEqual(ports[WEB]["state"], "rogue")
        self.assertEqual(g.cli("status").returncode, 1)
        self.assertTrue(pid_alive(w.pid))  # alerting only: nothing killed

    def test_guard_kill9_then_run_keeps_every_service_pid(self):
        g = self.start(services=http_service("web", WEB) + http_service("web2", WEB2) +
                       bg_service("worker"))
        before = {s["name"]: s["pid"] for s in g.status()["services"]}
        g.kill9()
        self.assertEqual(g.cli("status").returncode, 3)
        for pid in before.values():
            self.assertTrue(pid_alive(pid), "service %d died with the guard" % pid)
        g.start()
        after = {s["name"]: s["pid"] for s in g.status()["services"]}
        self.assertEqual(before, after)
        wait_for(lambda: g.service("web")["listening"], 10, "web listening after adoption")
        ports = {p["port"]: p for p in g.status()["ports"]}
        self.assertEqual(ports[WEB]["state"], "owned")
        self.assertEqual(ports[WEB2]["state"], "owned")
        self.assertIn("service_adopt", [e["type"] for e in g.events()])

    def test_sigterm_ends_the_guard_not_the_services(self):
        g = self.start()
        pids = [s["pid"] for s in g.status()["services"]]
        g.proc.terminate()
        self.assertEqual(g.proc.wait(10), 0)
        for pid in pids:
            self.assertTrue(pid_alive(pid))
        g.start()
        self.assertEqual(pids, [s["pid"] for s in g.status()["services"]])

    def test_double_forking_service_is_fully_stopped(self):
        g = self.start(services=http_service("dfork", WEB, "--double-fork") +
                       bg_service("bgfork", "--double-fork --ignore-term"))
        wait_for(lambda: g.service("dfork")["listening"], 10, "dfork listening")
        self.assertFalse(os.path.exists(os.path.join(g.dir, "web.pid")))
        holders = [h["pid"] for p in g.status()["ports"] if p["port"] == WEB
                   for h in p["holders"]]
        main = g.service("dfork")["pid"]
        self.assertTrue(holders and main not in holders, holders)  # the grandchild holds it
        cg = g.cgroup_dir()

        def members():
            out = []
            for svc in ("dfork", "bgfork"):
                with open(os.path.join(cg, svc, "cgroup.procs")) as f:
                    out += [int(x) for x in f.read().split()]
            return out
        # bgfork forks on its own time: wait for its grandchild too
        wait_for(lambda: len(members()) >= 4, 10, "both double forks done")
        procs = members()
        r = g.cli("shutdown", check=0)
        self.assertIn("stopped", r.stdout)
        g.proc.wait(10)
        for pid in procs:
            wait_for(lambda: not pid_alive(pid), 10, "pid %d to be gone" % pid)
        self.assertFalse(os.path.exists(cg), "the instance cgroup was removed")
        self.assertEqual(ss_claims({WEB}), {})

    def test_events_follow_streams_live_events(self):
        g = self.start()
        p = self.popen(PORTGUARD, "events", "--follow", "--json", "-c", g.conf,
                       stdout=subprocess.PIPE, text=True)
        time.sleep(0.3)  # the follower connects; then a rogue bind
        w = self.worker()
        w.do(op="open", id="x", proto="udp", family="ipv6", port=RESERVED)
        while True:
            ev = json.loads(p.stdout.readline())
            if ev["type"] == "rogue_bind":
                break
        self.assertEqual((ev["pid"], ev["port"], ev["proto"]), (w.pid, RESERVED, "udp"))
        r = g.cli("events")
        self.assertIn("rogue_bind", r.stdout)

    def test_owner_routine_claims_are_followed_on_request_not_journaled(self):
        """An owner's own binds, listens and releases are routine: counted, streamed to
        `events --follow --all`, journaled only with journal_routine = yes (issue 12)."""
        g = self.guard(services=http_service("web", WEB)).start()
        wait_for(lambda: g.service("web")["listening"], 10, "web listening")

        def routine(pid, evs):
            return [e for e in evs if e["type"] in ("bind", "listen") and e.get("pid") == pid]
        self.assertEqual(routine(g.service("web")["pid"], g.events()), [])
        p = self.popen(PORTGUARD, "events", "--follow", "--all", "--json", "-c", g.conf,
                       stdout=subprocess.PIPE, text=True)
        w = self.worker()  # a rogue bind the follower must see: then it is connected
        w.do(op="open", id="x", proto="udp", port=RESERVED)
        while json.loads(p.stdout.readline())["type"] != "rogue_bind":
            pass
        self.assertEqual(g.cli("restart", "quick", "web").returncode, 0)
        pid = g.service("web")["pid"]
        seen = []
        while not routine(pid, seen):
            seen.append(json.loads(p.stdout.readline()))
        self.assertEqual(routine(pid, seen)[0]["service"], "web")
        self.assertEqual(routine(pid, g.events()), [])  # streamed, not journaled
        with open(g.conf) as f:
            text = f.read().replace("[guard]\n", "[guard]\njournal_routine = yes\n", 1)
        with open(g.conf, "w") as f:
            f.write(text)
        self.assertEqual(g.cli("reload").returncode, 0)
        self.assertEqual(g.cli("restart", "quick", "web").returncode, 0)
        pid = g.service("web")["pid"]
        wait_for(lambda: routine(pid, g.events()), 10, "web's listen in the journal")


class ConflictsAndLoss(GuardTest):
    def test_port_shared_through_reuseport(self):
        g = self.guard(services=http_service("web", WEB, "--reuseport")).start()
        wait_for(lambda: g.service("web")["listening"], 10, "web listening")
        w = self.worker()
        r = w.do(op="open", id="h", port=WEB, reuseport=True, reuseaddr=True, listen=True)
        self.assertTrue(r["ok"], r)  # same uid + SO_REUSEPORT: the kernel lets it share
        wait_for(lambda: g.events("port_shared"), 10, "a port_shared event")
        ev = g.events("port_shared")
        self.assertEqual(len(ev), 1, ev)
        self.assertEqual([h["pid"] for h in ev[0]["holders"]], [w.pid])
        self.assertEqual(ev[0]["service"], "web")
        self.assertEqual([e["pid"] for e in g.events("rogue_bind")], [w.pid])
        ports = {p["port"]: p for p in g.status()["ports"]}
        self.assertEqual(ports[WEB]["state"], "shared")
        self.assertEqual(sorted(h["pid"] for h in ports[WEB]["holders"]),
                         sorted([w.pid, g.service("web")["pid"]]))
        w.do(op="close", id="h")
        wait_for(lambda: {p["port"]: p for p in g.status()["ports"]}[WEB]["state"] == "owned",
                 10, "the port owned again")

    def test_ring_buffer_loss_is_counted_reported_and_resynced(self):
        # A one-page ring buffer: a rogue's burst of binds is folded in the kernel, not lost
        g = self.guard(guard_extra="ring_buffer_kb = 4\n").start()
        keep = self.worker()
        self.assertTrue(keep.do(op="open", id="k", port=RESERVED + 1, listen=True)["ok"])
        burst = ("import socket\nfor i in range(3000):\n"
                 "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                 "    s.bind(('127.0.0.1', %d))\n    s.close()\n")
        procs = [self.popen(sys.executable, "-c", burst % p) for p in (RESERVED, RESERVED + 3)]
        for p in procs:
            self.assertEqual(p.wait(60), 0)
        self.assertEqual(g.status()["guard"]["lost"], 0)
        # what is not folded can be lost: an owner's own burst on its port (a service's)
        own = BASE + 45
        script = os.path.join(g.dir, "burst.py")
        with open(script, "w") as f:
            f.write("import socket, time\nfor i in range(3000):\n"
                    "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                    "    s.bind(('127.0.0.1', %d))\n    s.close()\ntime.sleep(600)\n" % own)
        with open(g.conf, "a") as f:
            f.write("\n[service:burst]\ncommand = %s %s\nport = %d\ntype = background\n"
                    % (sys.executable, script, own))
        g.cli("reload", check=0)
        # One more event makes the daemon see the loss counter move.
        keep.do(op="open", id="k2", port=RESERVED + 2, proto="udp")
        wait_for(lambda: g.events("events_lost"), 10, "an events_lost event")
        lost = sum(e["count"] for e in g.events("events_lost"))
        st = g.status()
        self.assertGreater(lost, 0)
        self.assertGreaterEqual(st["guard"]["lost"], lost)
        # After the re-sync the table is the truth again.
        ports = set(range(BASE, BASE + 90))
        wait_for(lambda: guard_claims(g.status(), ports) == ss_claims(ports), 10,
                 "the claim table to agree with ss after the loss")
        self.assertIn(RESERVED + 1, [v[1] for v in guard_claims(g.status(), ports).values()])

    def test_owner_bind_failing_on_time_wait_says_nothing_live_holds_it(self):
        TW = BASE + 5  # its own port: the TIME_WAIT outlives the test by a minute
        # Leave a TIME_WAIT on the port: the server side closes first.
        srv = self.worker()
        cli = self.worker()
        self.assertTrue(srv.do(op="open", id="l", port=TW, reuseaddr=True, listen=True)["ok"])
        cli.do(op="connect", id="c", port=TW)
        srv.do(op="accept", id="l", **{"as": "a"})
        srv.do(op="close", id="a")  # the server side closes first...
        cli.do(op="close", id="c")
        srv.do(op="close", id="l")  # ...and keeps TIME_WAIT on the port
        out = subprocess.run(["ss", "-tanH", "state", "time-wait", "sport = :%d" % TW],
                             capture_output=True, text=True).stdout
        if not out.strip():
            self.skipTest("no TIME_WAIT was left on the port")
        # The owner binds without SO_REUSEADDR, which TIME_WAIT refuses.
        svc = ("[service:plain]\ncommand = %s -c \"import socket; s = socket.socket(); "
               "s.bind(('0.0.0.0', %d)); s.listen(); input()\"\nport = %d\nrestart = never\n"
               % (sys.executable, TW, TW))
        g = self.guard(services=svc).start(wait_running=False)
        wait_for(lambda: g.events("port_conflict"), 15, "a port_conflict event")
        ev = g.events("port_conflict")[0]
        self.assertEqual((ev["service"], ev["port"], ev["holders"]), ("plain", TW, []), ev)
        self.assertIn("nothing live holds", ev["detail"])
        wait_for(lambda: g.service("plain")["state"] == "EXITED", 15, "plain EXITED")
        self.assertEqual(g.cli("status").returncode, 1)

    def test_crash_loop_backs_off_then_fatal(self):
        g = self.guard(services=bg_service("crash", "--exit-after 30 --exit-code 3") +
                       bg_service("fine", prio=60)).start(wait_running=False)
        wait_for(lambda: g.service("crash")["state"] == "FATAL", 30, "crash FATAL")
        ev = [e["type"] for e in g.events() if e.get("service") == "crash"]
        self.assertIn("service_backoff", ev)
        self.assertEqual(ev[-1], "service_fatal", ev)
        self.assertEqual(g.service("fine")["state"], "RUNNING")
        self.assertEqual(g.cli("status").returncode, 1)

    def test_background_is_ready_once_it_runs_and_an_early_exit_still_fails(self):
        # a 30 s start_window: "ready" cannot be the window's end (the guard's start
        # waits 10 s at most); a clean exit within the window is a failed start
        # (restart = on-failure restarts it), and five of them make it FATAL
        svc = (bg_service("worker").replace("\n\n", "\nstart_window = 30s\n\n") +
               bg_service("quitter", "--exit-after 300 --exit-code 0", prio=60)
               .replace("\n\n", "\nstart_window = 30s\nrestart = on-failure\n\n"))
        g = self.guard(services=svc).start(wait_running=False)
        wait_for(lambda: g.service("worker")["state"] == "RUNNING", 10, "worker RUNNING")
        start = [e for e in g.events() if e.get("service") == "worker"]
        self.assertEqual([e["type"] for e in start], ["service_start", "service_ready"], start)
        wait_for(lambda: g.service("quitter")["state"] == "FATAL", 30, "quitter FATAL")
        ev = [e["type"] for e in g.events() if e.get("service") == "quitter"]
        self.assertEqual(ev.count("service_start"), 5, ev)
        self.assertEqual(ev[-1], "service_fatal", ev)
        self.assertEqual(g.service("worker")["state"], "RUNNING")

    def test_run_without_bpf_permission_says_what_is_missing(self):
        g = self.guard()
        os.chmod(g.dir, 0o755)
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            PORTGUARD, "run", "-c", g.conf], capture_output=True, text=True,
                           timeout=30)
        self.assertNotEqual(r.returncode, 0)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("CAP_BPF", lines[0])


class ClaimTableTest(GuardTest):
    """The claim table agrees with `ss -ltnup` after a random sequence of
    binds, listens and closes from several processes."""

    def test_random_sequence_matches_ss(self):
        seed = int(os.environ.get("PG_TEST_SEED", random.randrange(1 << 30)))
        rnd = random.Random(seed)
        g = self.guard().start()
        ns = self.netns()
        # In our own namespace the ephemeral range is the guarded range, so
        # a bind to port 0 gets a guarded port.
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw",
                        "net.ipv4.ip_local_port_range=%d %d" % (FREE[0], FREE[-1])], check=True)
        workers = [self.worker() for _ in range(3)]
        nsw = self.worker(netns=ns)
        ports = set(FREE)
        open_ids = []
        n = 0
        for step in range(120):
            w = rnd.choice(workers)
            op = rnd.random()
            if op < 0.55 or not open_ids:
                n += 1
                sid = "s%d" % n
                fam = rnd.choice(["ipv4", "ipv6"])
                proto = rnd.choice(["tcp", "udp"])
                addr = rnd.choice(["any", "lo"])
                addr = ({"ipv4": "0.0.0.0", "ipv6": "::"} if addr == "any" else
                        {"ipv4": "127.0.0.1", "ipv6": "::1"})[fam]
                reuse = rnd.random() < 0.3
                port = rnd.choice(list(FREE)[:10])
                r = w.do(op="open", id=sid, family=fam, proto=proto, addr=addr, port=port,
                         reuseport=reuse, listen=(proto == "tcp" and rnd.random() < 0.8))
                if r["ok"]:
                    open_ids.append((w, sid))
            elif op < 0.85:
                w2, sid = open_ids.pop(rnd.randrange(len(open_ids)))
                w2.do(op="close", id=sid)
            elif op < 0.93:
                w.do(op="fork")
            else:
                w.do(op="killchildren")
        # Port 0 in the other namespace gets a guarded port; reported, no conflict.
        r = nsw.do(op="open", id="z", port=0, listen=True)
        self.assertIn(r["port"], ports)
        # listen() without bind() there: the kernel picks a guarded port too.
        r = nsw.do(op="open", id="y", listen=True)
        self.assertIn(r["port"], ports)
        # Listen without bind (autobind) on the host: must not break anything.
        workers[0].do(op="open", id="auto", listen=True)

        def agree():
            return guard_claims(g.status(), ports) == ss_claims(ports)
        try:
            wait_for(agree, 10, "the claim table to agree with ss")
        except AssertionError:
            self.fail("seed %d:\n guard %s\n ss    %s" % (seed, guard_claims(g.status(), ports),
                                                          ss_claims(ports)))
        self.assertTrue(ss_claims(ports), "the sequence left some claims to compare")
        wait_for(lambda: guard_claims(g.status(), ports, host=False) == ss_claims(ports, ns),
                 10, "the other namespace's claims")
        self.assertTrue(any(e["type"] == "netns_claim" and e["pid"] == nsw.pid
                            for e in g.events()))
        self.assertFalse(any(e["type"] == "rogue_bind" and e["pid"] == nsw.pid
                             for e in g.events()))
        # Close everything: the table empties with the kernel's release events.
        for w in workers:
            w.do(op="killchildren")
        for w, sid in open_ids:
            w.do(op="close", id=sid)
        nsw.do(op="close", id="z")
        nsw.do(op="close", id="y")
        wait_for(lambda: guard_claims(g.status(), ports) == {} == ss_claims(ports), 10,
                 "an empty table")


class Result(unittest.TextTestResult):
    pass


def main():
    if os.geteuid() != 0:
        print("e2e: 0 passed, 0 failed, 1 skipped")
        return 0
    for exe in (PORTGUARD, PG_DEMO):
        if not os.access(exe, os.X_OK):
            print("missing %s: run make first" % exe)
            print("e2e: 0 passed, 1 failed, 0 skipped")
            return 1
    suite = unittest.TestSuite([
        unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__]),
        unittest.defaultTestLoader.loadTestsFromModule(test_restart),
        unittest.defaultTestLoader.loadTestsFromModule(test_listen),
        unittest.defaultTestLoader.loadTestsFromModule(test_defaults),
        unittest.defaultTestLoader.loadTestsFromModule(test_reload),
        unittest.defaultTestLoader.loadTestsFromModule(test_hostile),
        unittest.defaultTestLoader.loadTestsFromModule(test_notify),
        unittest.defaultTestLoader.loadTestsFromModule(test_services),
        unittest.defaultTestLoader.loadTestsFromModule(test_servers),
        unittest.defaultTestLoader.loadTestsFromModule(test_prometheus),
        unittest.defaultTestLoader.loadTestsFromModule(test_journald),
        unittest.defaultTestLoader.loadTestsFromModule(test_enforce),
        unittest.defaultTestLoader.loadTestsFromModule(test_storm),
        unittest.defaultTestLoader.loadTestsFromModule(test_upgrade)])
    if len(sys.argv) > 1:
        suite = unittest.defaultTestLoader.loadTestsFromNames(sys.argv[1:],
                                                              sys.modules[__name__])
    res = unittest.TextTestRunner(verbosity=2, resultclass=Result, stream=sys.stdout).run(suite)
    failed = len(res.failures) + len(res.errors)
    print("e2e: %d passed, %d failed, %d skipped" % (res.testsRun - failed - len(res.skipped),
                                                     failed, len(res.skipped)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
