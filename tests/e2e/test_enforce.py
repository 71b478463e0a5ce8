"""End-to-end tests of enforcement (issue 4): the kernel denies rogue binds on
guarded ports with EPERM, the owner binds, allow rules and the kill policy
work, observe mode denies nothing."""
import errno
import json
import shutil
import signal
import socket
import os
import subprocess
import sys

import pgtest
from pgtest import BASE, GuardTest, pid_alive, wait_for

WEB = BASE + 0
RESERVED = BASE + 10

BINDER = ("import socket, sys, time\n"
          "fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET\n"
          "typ = socket.SOCK_DGRAM if sys.argv[3] == 'udp' else socket.SOCK_STREAM\n"
          "try:\n    s = socket.socket(fam, typ, 262 if sys.argv[3] == 'mptcp' else 0)\n"
          "except OSError as e:\n    print('socket', e.errno, flush=True); sys.exit()\n"
          "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
          "if sys.argv[4] == '1': s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)\n"
          "try:\n    s.bind((sys.argv[1], int(sys.argv[2])))\n    print('ok', flush=True)\n"
          "except OSError as e:\n    print(e.errno, flush=True)\n"
          "if len(sys.argv) > 5: time.sleep(float(sys.argv[5]))\n")


def bg(name, extra="", prio=50):
    return ("[service:%s]\ncommand = @DEMO@ background --name %s %s\nstop_timeout = 1s\n"
            "priority = %d\n\n" % (name, name, extra, prio))


def http(name, port, more="", extra=""):
    return ("[service:%s]\ncommand = @DEMO@ http --port %d --name %s %s\nport = %d\n"
            "health = /health\nstop_timeout = 1s\n%s\n" % (name, port, name, extra, port, more))


class EnforceBase(GuardTest):
    def tmp(self):
        import shutil
        import tempfile
        d = tempfile.mkdtemp(prefix="pg-e2e-x-")
        os.chmod(d, 0o755)
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def enforce(self, guard_extra="", services=None):
        g = self.guard(guard_extra=guard_extra, services=services or http(
            "web", WEB, extra="--reuseport"))
        with open(g.conf) as f:
            text = f.read().replace("mode = observe", "mode = enforce")
        with open(g.conf, "w") as f:
            f.write(text)
        return g.start()

    def bind(self, addr, port, proto="tcp", reuseport=False, uid=None, sleep=None):
        cmd = [sys.executable, "-c", BINDER, addr, str(port), proto, "1" if reuseport else "0"]
        if sleep:
            cmd.append(str(sleep))
        if uid is not None:
            cmd = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups"] + cmd
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()



class EnforceTest(EnforceBase):
    def test_rogue_binds_get_eperm_v4_v6_tcp_udp(self):
        g = self.enforce()
        wait_for(lambda: g.service("web")["listening"], 10, "web listening")
        eperm = str(errno.EPERM)
        cases = [("0.0.0.0", WEB, "tcp"), ("::", WEB, "tcp"), ("127.0.0.1", WEB, "udp"),
                 ("::1", WEB, "udp"), ("0.0.0.0", RESERVED, "tcp"), ("::", RESERVED, "udp")]
        for addr, port, proto in cases:
            self.assertEqual(self.bind(addr, port, proto, uid=65534), eperm,
                             (addr, port, proto))
        denied = g.events("bind_denied")
        wait_for(lambda: len(g.events("bind_denied")) == len(cases), 10, "every denial")
        denied = g.events("bind_denied")
        self.assertEqual(sorted((e["port"], e["proto"], e["addr"]) for e in denied),
                         sorted((p, pr, a) for a, p, pr in cases))
        for e in denied:
            self.assertEqual(e["uid"], 65534)
            self.assertEqual(e["action"], "denied")
            self.assertTrue(e["exe"].endswith(os.path.basename(os.path.realpath(
                sys.executable))) or "python" in e["exe"], e)
        self.assertEqual(denied[0]["owner"], "web")
        ports = {p["port"]: p for p in g.status()["ports"]}
        self.assertEqual(ports[WEB]["denied"], 4)
        self.assertEqual(ports[WEB]["state"], "owned")

    def test_multipath_tcp_rogue_binds_get_eperm_too(self):
        # IPPROTO_MPTCP (Linux >= 5.6, net.mptcp.enabled): bind() goes to the
        # first subflow's inet_bind, whose cgroup hooks see the binder as usual
        g = self.enforce()
        wait_for(lambda: g.service("web")["listening"], 10, "web listening")
        r = self.bind("0.0.0.0", WEB, "mptcp", uid=65534)
        if r.startswith("socket"):
            self.skipTest("no MPTCP sockets here (%s)" % r)
        self.assertEqual(r, str(errno.EPERM))
        self.assertEqual(self.bind("::", RESERVED, "mptcp", uid=65534), str(errno.EPERM))
        wait_for(lambda: len(g.events("bind_denied")) == 2, 10, "both denials")
        self.assertEqual(sorted(e["port"] for e in g.events("bind_denied")), [WEB, RESERVED])
        self.assertEqual(g.service("web")["listening"], True)

    def test_reuseport_hijack_by_the_owners_uid_is_denied(self):
        g = self.enforce()
        wait_for(lambda: g.service("web")["listening"], 10, "web listening")
        # Same uid (root) as the owner and SO_REUSEPORT: the kernel alone would share.
        self.assertEqual(self.bind("0.0.0.0", WEB, reuseport=True), str(errno.EPERM))
        wait_for(lambda: g.events("bind_denied"), 10, "the denial")

    def test_bind_denied_says_so_reuseport(self):
        g = self.enforce()
        why = pgtest.kernel_lacks(g, "bpf_getsockopt in cgroup/bind4")
        if why:
            self.skipTest(why)
        wait_for(lambda: g.service("web")["listening"], 10, "web listening")
        self.assertEqual(self.bind("0.0.0.0", WEB, reuseport=True), str(errno.EPERM))
        self.assertEqual(self.bind("0.0.0.0", WEB, reuseport=False), str(errno.EPERM))
        wait_for(lambda: len(g.events("bind_denied")) == 2, 10, "the denials")
        self.assertEqual([e["reuseport"] for e in g.events("bind_denied")], [True, False])

    def test_owner_restart_binds_fine(self):
        g = self.enforce()
        old = g.service("web")["pid"]
        g.cli("restart", check=0)
        self.assertNotEqual(g.service("web")["pid"], old)
        self.assertEqual(g.events("bind_denied"), [])

    def test_allow_rules(self):
        g = self.enforce(services=http("web", WEB, "allow = uid:65534, exe:/usr/bin/true\n"))
        wait_for(lambda: g.service("web")["listening"], 10, "web listening")
        self.assertEqual(self.bind("127.0.0.1", WEB, "udp", uid=65534), "ok")
        self.assertEqual(self.bind("127.0.0.1", WEB, "udp", uid=65533), str(errno.EPERM))
        # exe: allow one program by its inode: python is not it
        self.assertEqual(self.bind("127.0.0.1", WEB, "udp"), str(errno.EPERM))

    def test_an_allowed_binder_is_not_a_rogue_in_either_mode(self):
        for mode in ("enforce", "observe"):
            g = self.guard(services=http("web", WEB, "allow = uid:65534\n"))
            if mode == "enforce":
                with open(g.conf) as f:
                    text = f.read().replace("mode = observe", "mode = enforce")
                with open(g.conf, "w") as f:
                    f.write(text)
            g.start()
            wait_for(lambda: g.service("web")["listening"], 10, "web listening")
            p = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                  sys.executable, "-c", BINDER, "127.0.0.1", str(WEB), "udp",
                                  "0", "30"], stdout=subprocess.PIPE, text=True)
            self.addCleanup(lambda: p.poll() is None and p.kill())
            self.assertEqual(p.stdout.readline().strip(), "ok", mode)
            wait_for(lambda: [c for c in g.status()["claims"] if p.pid in c["pids"]], 10,
                     "%s: the allowed claim seen" % mode)
            self.assertEqual(g.events("rogue_bind"), [], mode)
            ports = {x["port"]: x for x in g.status()["ports"]}
            self.assertEqual(ports[WEB]["state"], "owned", (mode, ports[WEB]))
            self.assertTrue([h for h in ports[WEB]["holders"] if h.get("allowed")], mode)
            self.assertEqual(g.cli("status").returncode, 0, mode)
            # a stranger is still one (observe: reported; enforce: denied)
            r = self.bind("127.0.0.1", WEB, "udp", uid=65533)
            self.assertEqual(r, "ok" if mode == "observe" else str(errno.EPERM), mode)
            wait_for(lambda: g.events("rogue_bind" if mode == "observe" else "bind_denied"),
                     10, "%s: the stranger reported" % mode)
            p.kill()
            p.wait()
            g.cleanup()

    def test_kill_policy_ends_the_binder(self):
        g = self.enforce(guard_extra="on_rogue = kill\n")
        p = subprocess.Popen([sys.executable, "-c", BINDER, "0.0.0.0", str(RESERVED), "tcp",
                              "0", "30"], stdout=subprocess.PIPE, text=True)
        out = p.stdout.read().strip()  # the SIGKILL may come before it prints EPERM
        self.assertIn(out, ("", str(errno.EPERM)))
        self.assertEqual(p.wait(10), -9)
        wait_for(lambda: g.events("bind_denied"), 10, "the denial")
        self.assertEqual(g.events("bind_denied")[0]["action"], "killed")

    def test_alert_policy_and_observe_mode_deny_nothing(self):
        g = self.guard(services=http("web", WEB))  # mode = observe
        g.start()
        self.assertEqual(self.bind("0.0.0.0", RESERVED, uid=65534), "ok")
        self.assertEqual(g.events("bind_denied"), [])
        wait_for(lambda: g.events("rogue_bind"), 10, "the alert")
        g.cli("shutdown", check=0)
        g.proc.wait(10)
        g2 = self.enforce(guard_extra="on_rogue = alert\n")
        self.assertEqual(self.bind("0.0.0.0", RESERVED, uid=65534), "ok")
        self.assertEqual(g2.events("bind_denied"), [])


def attached(name="pg_bind4"):
    """cgroup links whose program is `name`. (bpftool cgroup show lists nothing
    on Debian 11's 5.10 with bookworm's bpftool; links and programs list
    the same on every kernel of the matrix.)"""
    def j(*args):
        r = subprocess.run(["bpftool", "-j", *args], capture_output=True, text=True,
                           check=True)
        return json.loads(r.stdout or "[]")
    names = {p["id"]: p.get("name") for p in j("prog", "show")}
    return sum(1 for link in j("link", "show")
               if link.get("type") == "cgroup" and names.get(link.get("prog_id")) == name)


class NoGapTest(EnforceBase):
    def test_kill9_keeps_enforcement_and_the_next_run_picks_it_up(self):
        n0 = attached()
        g = self.enforce()
        self.assertEqual(attached(), n0 + 1)
        # kill -9 in the middle of a storm: every bind is still refused
        storm = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                  sys.executable, "-c", STORM, str(RESERVED + 1), "20000"],
                                 stdout=subprocess.PIPE, text=True)
        wait_for(lambda: g.events("bind_denied"), 20, "the storm to begin")
        g.kill9()
        self.assertEqual(storm.communicate(timeout=120)[0].split(), ["20000", "20000"])
        # No guard: the kernel still says no, and remembers it.
        self.assertEqual(self.bind("0.0.0.0", RESERVED, uid=65534), str(errno.EPERM))
        g.start()
        self.assertIn("reused the pinned", g.stderr())
        wait_for(lambda: any(e["port"] == RESERVED for e in g.events("bind_denied")), 10,
                 "the denial made while no guard ran")
        self.assertEqual(attached(), n0 + 1)  # swapped in place, not attached twice
        # another tool's pin in the same bpffs: shutdown must leave the mount alone
        other = os.path.join(g.bpffs, "other_tool_map")
        subprocess.run(["bpftool", "map", "create", other, "type", "array", "key", "4",
                        "value", "4", "entries", "1", "name", "othertool"], check=True)
        g.cli("shutdown", check=0)
        g.proc.wait(10)
        self.assertEqual(attached(), n0)
        self.assertTrue(os.path.ismount(g.bpffs))
        self.assertTrue(os.path.exists(other))
        os.unlink(other)
        subprocess.run(["umount", g.bpffs], check=True)
        self.assertEqual(self.bind("0.0.0.0", RESERVED, uid=65534), "ok")


class ReservedPortsTest(EnforceBase):
    def test_guarded_ports_in_the_ephemeral_range_are_reserved_then_released(self):
        ns = self.netns()
        ex = ["ip", "netns", "exec", ns]
        sysctl = lambda *a: subprocess.run(ex + ["sysctl", *a], capture_output=True,
                                           text=True, check=True).stdout.strip()
        # 80-89 guarded (the fixture guards BASE..BASE+89), 90-95 not
        sysctl("-qw", "net.ipv4.ip_local_port_range=%d %d" % (BASE + 80, BASE + 95))
        sysctl("-qw", "net.ipv4.ip_local_reserved_ports=%d" % (BASE + 85))  # someone else's
        g = self.guard(services=http("web", WEB))
        with open(g.conf) as f:
            text = f.read().replace("mode = observe", "mode = enforce")
        with open(g.conf, "w") as f:
            f.write(text)
        g.start(prefix=["nsenter", "--net=/run/netns/" + ns])
        self.assertEqual(sysctl("-n", "net.ipv4.ip_local_reserved_ports"),
                         "%d-%d" % (BASE + 80, BASE + 89))
        self.assertIn("reserved them", g.stderr())
        # listen() without bind() in that namespace: never a guarded port
        out = subprocess.run(ex + [sys.executable, "-c", "import socket\nfor i in range(5):\n"
                                   "    s = socket.socket(); s.listen(); print(s.getsockname()[1])"],
                             capture_output=True, text=True)
        ports = [int(x) for x in out.stdout.split()]
        self.assertEqual(len(ports), 5, out.stderr)
        self.assertTrue(all(p >= BASE + 90 for p in ports), ports)
        g.cli("shutdown", check=0)
        g.proc.wait(10)
        self.assertEqual(sysctl("-n", "net.ipv4.ip_local_reserved_ports"), str(BASE + 85))


class ReclaimTest(EnforceBase):
    def test_port_stolen_while_owner_and_guard_were_down_is_reclaimed(self):
        g = self.enforce(services=http("web", WEB))
        g.cli("shutdown", check=0)  # everything down, enforcement off
        g.proc.wait(10)
        thief = subprocess.Popen([sys.executable, "-c", BINDER.replace(
            "print('ok', flush=True)", "s.listen(); print('ok', flush=True)"), "0.0.0.0",
            str(WEB), "tcp", "0", "600"], stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: thief.poll() is None and thief.kill())
        self.assertEqual(thief.stdout.readline().strip(), "ok")
        g.start(wait_running=False)
        wait_for(lambda: thief.poll() is not None, 20, "the thief to be flushed")
        wait_for(lambda: g.service("web")["state"] == "RUNNING" and
                 g.service("web")["listening"], 20, "web serving its port again")
        rec = g.events("reclaim")
        self.assertEqual(len(rec), 1, rec)
        self.assertEqual([h["pid"] for h in rec[0]["holders"]], [thief.pid])
        done = [e for e in g.events("restart_done") if e.get("mode") == "reclaim"]
        self.assertEqual(len(done), 1)
        self.assertEqual([s["step"] for s in done[0]["steps"]],
                         ["stop", "flush", "release", "clean", "start", "verify"])
        ports = {p["port"]: p for p in g.status()["ports"]}
        self.assertEqual(ports[WEB]["state"], "owned")

    def test_observe_mode_never_reclaims(self):
        thief = subprocess.Popen([sys.executable, "-c", BINDER.replace(
            "print('ok', flush=True)", "s.listen(); print('ok', flush=True)"), "0.0.0.0",
            str(WEB), "tcp", "0", "600"], stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: thief.poll() is None and thief.kill())
        self.assertEqual(thief.stdout.readline().strip(), "ok")
        g = self.guard(services=http("web", WEB)).start(wait_running=False)
        wait_for(lambda: g.events("port_conflict"), 15, "the conflict")
        self.assertIsNone(thief.poll())
        self.assertEqual(g.events("reclaim"), [])


STORM = ("import socket, sys\nn = eperm = 0\nfor i in range(int(sys.argv[2])):\n"
         "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
         "    try:\n        s.bind(('127.0.0.1', int(sys.argv[1])))\n"
         "    except PermissionError:\n        eperm += 1\n"
         "    s.close()\n    n += 1\nprint(n, eperm)\n")


class StormTest(EnforceBase):
    def test_storm_of_10000_rogue_binds_is_denied_and_counted_exactly(self):
        g = self.guard(guard_extra="metrics_file = @DIR@/portguard.prom\n".replace(
            "@DIR@", "/tmp"), services=http("web", WEB))
        metrics = os.path.join(g.dir, "portguard.prom")
        with open(g.conf) as f:
            text = f.read().replace("mode = observe", "mode = enforce").replace(
                "/tmp/portguard.prom", metrics)
        with open(g.conf, "w") as f:
            f.write(text)
        g.start()
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            sys.executable, "-c", STORM, str(RESERVED), "10000"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.stdout.split(), ["10000", "10000"], r.stderr)  # every one EPERM
        g.cli("shutdown", check=0)  # closes the coalescing windows into the journal
        g.proc.wait(30)
        denied = g.events("bind_denied")
        lost = sum(e["count"] for e in g.events("events_lost"))
        total = sum(e.get("count", 1) for e in denied)
        self.assertEqual(lost, 0, "an 8 MiB ring should not overflow here")
        self.assertEqual(total, 10000)
        self.assertLess(len(denied), 200, "coalesced: %d journal lines" % len(denied))
        self.assertTrue(any(e.get("coalesced") for e in denied))
        with open(metrics) as f:
            prom = f.read()
        self.assertIn('portguard_denials_total{port="%d"} 10000' % RESERVED, prom)
        self.assertIn('portguard_service_state{service="web",state="STOPPED"} 1', prom)
        self.assertIn('portguard_event_latency_seconds_bucket{le="+Inf"}', prom)
        self.assertRegex(prom, r'portguard_build_info\{version="[^"]+",layout="\d+"\} 1')
        if shutil.which("promtool"):  # the exposition format, as Prometheus' own linter reads it
            r = subprocess.run(["promtool", "check", "metrics"], input=prom,
                               capture_output=True, text=True, timeout=30)
            self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))


class SinksTest(EnforceBase):
    def test_alert_command_metrics_listen_and_journal_rotation(self):
        g = self.guard(guard_extra="alert_command = cat >> @DIR@/alerts.out\n"
                       "metrics_listen = 127.0.0.1:%d\njournal_max = 4K\n" % (BASE + 95),
                       services=http("web", WEB))
        with open(g.conf) as f:
            text = f.read().replace("mode = observe", "mode = enforce").replace(
                "@DIR@", g.dir)
        with open(g.conf, "w") as f:
            f.write(text)
        g.start()
        for i in range(30):  # 30 distinct binders: 30 alerts, past 4K of journal
            self.assertEqual(self.bind("0.0.0.0", RESERVED, uid=65534), str(errno.EPERM))
        out = os.path.join(g.dir, "alerts.out")
        wait_for(lambda: os.path.exists(out) and
                 sum(1 for _ in open(out)) >= 30, 20, "30 alerts through alert_command")
        with open(out) as f:
            first = json.loads(f.readline())
        self.assertEqual((first["type"], first["port"]), ("bind_denied", RESERVED))
        body = subprocess.run([sys.executable, "-c", "import urllib.request, sys\n"
                               "print(urllib.request.urlopen('http://127.0.0.1:%d/metrics')"
                               ".read().decode())" % (BASE + 95)],
                              capture_output=True, text=True, timeout=30).stdout
        self.assertIn('portguard_denials_total{port="%d"} 30' % RESERVED, body)
        self.assertIn('portguard_service_up{service="web"} 1', body)
        self.assertIn('portguard_events_lost_total{kind="bind_denied"} 0', body)
        self.assertTrue(os.path.exists(os.path.join(g.state, "events.jsonl.1")))


class ReloadTest(EnforceBase):
    def write(self, g, services, extra=""):
        with open(g.conf) as f:
            head = f.read().split("[service:")[0]
        with open(g.conf, "w") as f:
            f.write(head + extra + services.replace("@DEMO@", pgtest.PG_DEMO))

    def test_broken_file_changes_nothing(self):
        g = self.enforce(services=http("web", WEB) + bg("worker"))
        pids = {s["name"]: s["pid"] for s in g.status()["services"]}
        with open(g.conf) as f:
            good = f.read()
        self.write(g, http("web", WEB) + bg("worker") + "[service:bad]\nport = 70000\n")
        r = g.cli("reload")
        self.assertEqual(r.returncode, 2)
        self.assertRegex(r.stderr, r"%s:\d+: " % g.conf)
        os.kill(g.proc.pid, signal.SIGHUP)  # the same through the signal
        wait_for(lambda: g.events("reload_failed"), 10, "reload_failed in the journal")
        ev = g.events("reload_failed")[0]
        self.assertTrue(any(e.startswith(g.conf + ":") and "70000" in e for e in ev["errors"]),
                        ev)
        with open(g.conf, "w") as f:  # the CLI itself needs a readable file
            f.write(good)
        self.assertEqual(pids, {s["name"]: s["pid"] for s in g.status()["services"]})
        self.assertEqual(self.bind("0.0.0.0", RESERVED, uid=65534), str(errno.EPERM))

    def test_valid_reload_starts_stops_restarts_only_what_changed(self):
        g = self.enforce(services=http("web", WEB) + bg("keep") + bg("gone") + bg("change"))
        pids = {s["name"]: s["pid"] for s in g.status()["services"]}
        web_pid = pids["web"]
        self.write(g, http("web", WEB) + bg("keep") + bg("change", "--name changed") +
                   bg("new"), extra="")
        r = g.cli("reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        st = {s["name"]: s for s in g.status()["services"]}
        self.assertEqual(sorted(st), ["change", "keep", "new", "web"])
        self.assertEqual(st["web"]["pid"], web_pid)
        self.assertEqual(st["keep"]["pid"], pids["keep"])
        self.assertNotEqual(st["change"]["pid"], pids["change"])
        self.assertFalse(pid_alive(pids["gone"]))
        wait_for(lambda: all(s["state"] == "RUNNING" for s in g.status()["services"]), 10,
                 "every service RUNNING")
        self.assertFalse(os.path.exists(os.path.join(g.cgroup_dir(), "gone")))
        rel = g.events("reload")[-1]
        self.assertEqual(sorted(rel["started"]), ["change", "new"])
        # the port maps follow, in place: web's port moves from owned to reserved
        self.write(g, bg("keep") + bg("change", "--name changed") + bg("new"))
        self.assertEqual(g.cli("reload").returncode, 0)
        self.assertFalse(pid_alive(web_pid))
        self.assertEqual(self.bind("0.0.0.0", WEB, uid=65534), str(errno.EPERM))


class AutobindTest(EnforceBase):
    def test_listen_without_bind_on_a_guarded_port_is_stopped(self):
        ns = self.netns()
        ex = ["ip", "netns", "exec", ns]
        sysctl = lambda *a: subprocess.run(ex + ["sysctl", *a], capture_output=True,
                                           text=True, check=True).stdout.strip()
        g = self.guard(services=http("web", WEB))
        with open(g.conf) as f:
            text = f.read().replace("mode = observe", "mode = enforce")
        with open(g.conf, "w") as f:
            f.write(text)
        g.start(prefix=["nsenter", "--net=/run/netns/" + ns])
        # after the guard reserved what it could: the range moves onto guarded ports
        sysctl("-qw", "net.ipv4.ip_local_port_range=%d %d" % (BASE + 60, BASE + 61))
        p = subprocess.Popen(ex + [sys.executable, "-c", "import socket, time\n"
                                   "s = socket.socket(); s.listen()\n"
                                   "print(s.getsockname()[1], flush=True); time.sleep(60)"],
                             stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        line = p.stdout.readline()  # empty when the kill came before the print
        self.assertEqual(p.wait(15), -9)
        wait_for(lambda: g.events("autobind_killed"), 10, "autobind_killed")
        ev = g.events("autobind_killed")
        self.assertEqual(len(ev), 1)
        port = ev[0]["port"]
        self.assertIn(port, (BASE + 60, BASE + 61))
        if line:
            self.assertEqual(int(line), port)
        self.assertEqual(ev[0]["action"], "killed")


class NestedCgroupTest(EnforceBase):
    def test_service_in_its_own_sub_cgroup_owns_its_port(self):
        script = os.path.join(self.tmp(), "nested.sh")
        with open(script, "w") as f:
            f.write("#!/bin/sh\nroot=$(awk '$9 == \"cgroup2\" {print $5; exit}' "
                    "/proc/self/mountinfo)\ncg=$root$(sed -n 's/^0:://p' /proc/self/cgroup)\n"
                    "mkdir -p $cg/worker && echo $$ > $cg/worker/cgroup.procs\n"
                    "exec %s http --port %d --name nested\n" % (pgtest.PG_DEMO, WEB))
        os.chmod(script, 0o755)
        g = self.enforce(services="[service:web]\ncommand = %s\nport = %d\nhealth = /health\n"
                         "stop_timeout = 1s\n" % (script, WEB))
        wait_for(lambda: g.service("web")["listening"], 10, "web listening from its sub-cgroup")
        with open("/proc/%d/cgroup" % g.service("web")["pid"]) as f:
            self.assertIn("/web/worker", f.read())
        ports = {p["port"]: p for p in g.status()["ports"]}
        self.assertEqual(ports[WEB]["state"], "owned")
        self.assertEqual(g.events("rogue_bind") + g.events("bind_denied"), [])


class ExeTest(EnforceBase):
    def test_bind_denied_names_the_executable_of_a_binder_already_gone(self):
        import shutil
        g = self.enforce()
        wait_for(lambda: g.service("web")["listening"], 10, "web listening")
        deep = os.path.join(self.tmp(), *["d%02d" % i for i in range(20)])
        os.makedirs(deep)
        deep_exe = os.path.join(deep, "pg-demo-deep")
        shutil.copy(pgtest.PG_DEMO, deep_exe)
        # The guard is stopped: every binder is gone before it reads the event,
        # so only what the kernel put in the event can name the executable.
        os.kill(g.proc.pid, signal.SIGSTOP)
        try:
            for _ in range(3):
                self.assertEqual(self.bind("0.0.0.0", RESERVED, uid=65534), str(errno.EPERM))
            r = subprocess.run(["unshare", "--mount", sys.executable, "-c", BINDER, "::",
                                str(RESERVED), "tcp", "0"], capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(r.stdout.strip(), str(errno.EPERM), r.stderr)
            r = subprocess.run([deep_exe, "http", "--port", str(RESERVED), "--name", "deep"],
                               capture_output=True, text=True, timeout=30)
            self.assertNotEqual(r.returncode, 0)
        finally:
            os.kill(g.proc.pid, signal.SIGCONT)
        wait_for(lambda: len(g.events("bind_denied")) >= 5, 10, "five denials")
        denied = g.events("bind_denied")
        py = os.path.realpath(sys.executable)
        host = [e for e in denied if e.get("exe_ns") == "host" and e["comm"].startswith("py")]
        self.assertEqual(len(host), 3, denied)
        for e in host:
            self.assertEqual((e["exe"], e["exe_source"]), (py, "kernel"), e)
            self.assertEqual(e["exe_ino"], os.stat(py).st_ino)
            self.assertTrue((e["cgroup"] or "").startswith(pgtest.cg_root()), e)  # by id
        other = [e for e in denied if e.get("exe_ns") == "other"]
        self.assertEqual(len(other), 1, denied)
        self.assertEqual((other[0]["exe"], other[0]["exe_source"]), (py, "kernel"))
        d = [e for e in denied if e["comm"] == "pg-demo-deep"]
        self.assertEqual(len(d), 1, denied)
        self.assertEqual(d[0]["exe_source"], "kernel-partial", d[0])
        self.assertTrue(d[0]["exe"].startswith(".../") and
                        deep_exe.endswith(d[0]["exe"][3:]), d[0]["exe"])


class NetnsTest(EnforceBase):
    def test_another_namespace_is_neither_denied_nor_a_conflict(self):
        g = self.enforce()
        wait_for(lambda: g.service("web")["listening"], 10, "web listening")
        ns = self.netns()
        w = self.worker(netns=ns)
        # the same port numbers inside a container's own namespace: its ports, not ours
        self.assertTrue(w.do(op="open", id="a", port=WEB, listen=True)["ok"])
        self.assertTrue(w.do(op="open", id="b", port=RESERVED, proto="udp")["ok"])
        self.assertTrue(w.do(op="open", id="c", family="ipv6", port=RESERVED + 1,
                             listen=True)["ok"])
        wait_for(lambda: len([e for e in g.events("netns_claim") if e["pid"] == w.pid]) >= 3,
                 10, "three netns_claim events")
        self.assertEqual(g.events("bind_denied"), [])
        self.assertEqual(g.events("rogue_bind"), [])
        # ...while the host's ports stay denied to strangers
        self.assertEqual(self.bind("0.0.0.0", WEB, uid=65534), str(errno.EPERM))
        self.assertEqual(self.bind("0.0.0.0", RESERVED, proto="udp", uid=65534),
                         str(errno.EPERM))
        ports = {p["port"]: p for p in g.status()["ports"]}
        self.assertEqual(ports[WEB]["state"], "owned")
        self.assertEqual(ports[RESERVED]["state"], "free")
        other = [c for c in g.status()["claims"] if not c["host"]]
        self.assertEqual(sorted(c["port"] for c in other), [WEB, RESERVED, RESERVED + 1])
        self.assertEqual(g.cli("status").returncode, 0)
        for sid in ("a", "b", "c"):
            w.do(op="close", id=sid)
        wait_for(lambda: not [c for c in g.status()["claims"] if not c["host"]], 10,
                 "the other namespace's claims released")


class ManyPortsTest(GuardTest):
    """`ports` is an array of 65536 slots (layout 3): a config of 10,000 ports
    (more than the 8192 the old hash held, which failed only at load) is
    guarded like any other, in the kernel, to its last port."""

    def test_ten_thousand_ports_are_watched_to_the_last(self):
        g = self.guard(guard_extra="metrics_listen = 127.0.0.1:%d\n" % (BASE + 95))
        with open(g.conf) as f:
            text = f.read().replace("ports = %d-%d" % (BASE, BASE + 89),
                                    "ports = %d-%d, %d-%d" % (BASE, BASE + 89, BASE + 100,
                                                               BASE + 10009))
        with open(g.conf, "w") as f:
            f.write(text)
        r = g.cli("check")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("10000 guarded ports", r.stdout)
        g.start()
        self.assertEqual(len(g.status()["ports"]), 10001)  # and the protected one
        for port in (BASE + 8300, BASE + 10009):  # past where a hash of 8192 ended
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", port))
            s.listen(1)
            wait_for(lambda: [e for e in g.events("rogue_bind") if e["port"] == port], 10,
                     "a rogue_bind on %d" % port)
            self.assertEqual([p["state"] for p in g.status()["ports"] if p["port"] == port],
                             ["rogue"])
            if port == BASE + 10009:  # a scrape of all of them comes whole
                with socket.create_connection(("127.0.0.1", BASE + 95), 10) as m:
                    data = b""
                    while True:
                        b = m.recv(1 << 20)
                        if not b:
                            break
                        data += b
                head, _, body = data.partition(b"\r\n\r\n")
                self.assertIn(b"Content-Length: %d\r\n" % len(body), head)
                self.assertIn(b'portguard_denials_total{port="%d"} 0\n' % (BASE + 10009), body)
                self.assertIn(b'portguard_port_state{port="%d",state="rogue"} 1\n' % port, body)
                # the free ports nobody owns: no state series (60,000 lines of "free")
                self.assertNotIn(b'portguard_port_state{port="%d"' % (BASE + 5000), body)
            s.close()
