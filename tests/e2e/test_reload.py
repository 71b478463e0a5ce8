"""Reload as a property (issue 9): random sequences of config edits (no
change, mode only, add, remove, change a command, change ports, allow
rules, broken files, several at once) through `portguard reload` and
SIGHUP against a running guard; after each step the invariants hold: the
guard is alive and answers, the services are what the file says (the
unchanged ones keep their pids), the kernel's maps match the config, and a
broken file changes nothing."""
import json
import os
import random
import signal
import subprocess

from pgtest import BASE, PG_DEMO, GuardTest, cg_root, pid_alive, wait_for

WEB = BASE + 0
PROTECTED = BASE + 99
PG_PORT_GUARDED, PG_PORT_PROTECTED, PG_PORT_DENY = 1, 2, 4
PG_ALLOW_UID = 1


class Model:
    """What the config file says."""

    def __init__(self):
        self.mode = "observe"
        self.hi = BASE + 89          # guarded: BASE..hi
        self.web_allow = []          # uids allowed on WEB
        self.bg = {"a": "a", "b": "b"}  # service -> the --name it runs with
        self.seq = 0

    def text(self, g):
        out = ["[guard]", "name = %s" % g.name, "ports = %d-%d" % (BASE, self.hi),
               "protected = %d" % PROTECTED, "mode = %s" % self.mode,
               "control = %s" % g.control, "state_dir = %s" % g.state, "log_dir = %s" % g.logs,
               "bpffs = %s" % g.bpffs, "coalesce_window = 0", "",
               "[service:web]", "command = %s http --port %d --name web" % (PG_DEMO, WEB),
               "port = %d" % WEB, "health = /health", "stop_timeout = 1s", "priority = 10"]
        if self.web_allow:
            out.append("allow = " + ", ".join("uid:%d" % u for u in self.web_allow))
        out.append("")
        for name, arg in sorted(self.bg.items()):
            out += ["[service:%s]" % name, "command = %s background --name %s" % (PG_DEMO, arg),
                    "stop_timeout = 1s", "priority = 50", ""]
        return "\n".join(out) + "\n"


class ReloadPropertyTest(GuardTest):
    def write(self, g, text):
        tmp = g.conf + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, g.conf)

    def pinned(self, g, m):
        path = os.path.join(g.bpffs, "portguard", g.name, m)
        r = subprocess.run(["bpftool", "map", "dump", "pinned", path, "-j"], capture_output=True,
                           text=True, check=True)
        return [e["formatted"] for e in json.loads(r.stdout)]

    def check(self, g, model, pids_before, changed, step):
        what = "step %d (%s)" % (model.seq, step)
        r = g.cli("status", "--json")
        self.assertIsNone(g.proc.poll(), "%s: the guard died:\n%s" % (what, g.stderr()[-3000:]))
        self.assertTrue(r.stdout, "%s: status exit %d: %s\nguard: %s" % (
            what, r.returncode, r.stderr, g.stderr()[-3000:]))
        st = json.loads(r.stdout)
        names = sorted(s["name"] for s in st["services"])
        self.assertEqual(names, sorted(["web"] + list(model.bg)), what)
        wait_for(lambda: all(s["state"] == "RUNNING" for s in g.status()["services"]), 20,
                 "%s: every service RUNNING" % what)
        st = g.status()
        pids = {s["name"]: s["pid"] for s in st["services"]}
        for name, pid in pids_before.items():
            if name in pids and name not in changed:
                self.assertEqual(pids[name], pid, "%s: %s kept its pid" % (what, name))
            elif name in changed and name in pids:
                self.assertNotEqual(pids[name], pid, "%s: %s restarted" % (what, name))
            if name not in pids:
                wait_for(lambda: not pid_alive(pid), 10, "%s: removed %s gone" % (what, name))
        self.assertEqual(st["guard"]["mode"], model.mode, what)
        # The kernel's maps are the config.
        # (an array: a slot per port number, flags 0 where none is watched)
        ports = {e["key"]: e["value"] for e in self.pinned(g, "ports") if e["value"]["flags"]}
        want = set(range(BASE, model.hi + 1)) | {PROTECTED}
        self.assertEqual(set(ports), want, "%s: the ports map" % what)
        deny = PG_PORT_DENY if model.mode == "enforce" else 0
        for p, v in ports.items():
            flags = (PG_PORT_PROTECTED if p == PROTECTED else PG_PORT_GUARDED) | (
                deny if p != PROTECTED else v["flags"] & PG_PORT_DENY)
            self.assertEqual(v["flags"], flags, "%s: flags of %d" % (what, p))
        web_cg = os.stat(os.path.join(cg_root(), "portguard-" + g.name, "web")).st_ino
        self.assertEqual(ports[WEB]["owner_cgroup"], web_cg, what)
        allow = sorted(e["key"]["value"] for e in self.pinned(g, "allow")
                       if e["key"]["port"] == WEB and e["key"]["kind"] == PG_ALLOW_UID)
        self.assertEqual(allow, sorted(model.web_allow), "%s: the allow map" % what)
        return pids

    def reload(self, g, use_signal, expect_ok):
        n_ok, n_bad = len(g.events("reload")), len(g.events("reload_failed"))
        if use_signal:
            os.kill(g.proc.pid, signal.SIGHUP)
            wait_for(lambda: len(g.events("reload")) > n_ok or
                     len(g.events("reload_failed")) > n_bad, 20, "the reload's outcome")
            ok = len(g.events("reload")) > n_ok
        else:
            r = g.cli("reload")
            ok = r.returncode == 0
        self.assertEqual(ok, expect_ok, "reload %s: ok=%s\n%s" % (
            "SIGHUP" if use_signal else "command", ok, g.stderr()[-2000:]))

    def test_random_reload_sequences_keep_every_invariant(self):
        seed = int(os.environ.get("PG_RELOAD_SEED", random.randrange(1 << 30)))
        rnd = random.Random(seed)
        model = Model()
        g = self.guard()
        self.write(g, model.text(g))
        g.start()
        wait_for(lambda: g.service("web")["listening"], 10, "web listening")
        pids = self.check(g, model, {}, set(), "start")
        for i in range(24):
            model.seq = i + 1
            kinds = rnd.sample(["none", "mode", "add", "remove", "command", "ports", "allow"],
                               rnd.choice([1, 1, 1, 2, 3]))
            if rnd.random() < 0.15:
                kinds = ["broken"]
            changed = set()
            text = None
            for k in kinds:
                if k == "mode":
                    model.mode = "enforce" if model.mode == "observe" else "observe"
                elif k == "add" and len(model.bg) < 6:
                    name = "s%d" % i
                    model.bg[name] = name
                elif k == "remove" and len(model.bg) > 1:
                    del model.bg[rnd.choice(sorted(model.bg))]
                elif k == "command":
                    name = rnd.choice(sorted(model.bg))
                    model.bg[name] = "%s-v%d" % (name, i)
                    changed.add(name)
                elif k == "ports":
                    model.hi = BASE + rnd.choice([60, 75, 89])
                elif k == "allow":
                    model.web_allow = rnd.sample([65534, 1000, 1001], rnd.randrange(0, 3))
            if kinds == ["broken"]:
                good = model.text(g)
                text = good.replace("[service:web]", rnd.choice(
                    ["[service:web", "[service:web]\nport = 70000",
                     "[service:web]\nstart_timeout = soon", "[service:web]\n\x00"]), 1)
            self.write(g, text or model.text(g))
            try:
                self.reload(g, rnd.random() < 0.5, kinds != ["broken"])
                pids = self.check(g, model, pids, changed, "+".join(kinds))
            except AssertionError as e:
                raise AssertionError("seed %d (PG_RELOAD_SEED=%d to replay): %s" % (
                    seed, seed, e)) from None
            if kinds == ["broken"]:
                self.write(g, model.text(g))
