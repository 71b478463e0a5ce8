"""Storm benchmarks of `make bench` (issue 12), each beside its baseline in the
same run (bench/suite.py calls run()):

  sight      a fresh rogue bind (a new process, on another guarded port) ->
             its line on `portguard events --follow`: on the quiet guard (the
             baseline), during a 3 s flat-out storm from 2 processes, and
             right after it; in observe mode with coalesce_window = 0 and in
             enforce mode with the defaults
  status     `portguard status --json` wall time, quiet (baseline), during
             and right after the storm
  lost       events the kernel lost, and whether the journal's counts of the
             storm add up to the binders' own count of attempts
  memory     the guard's RSS at rest and its peak (VmHWM) after the storm
  distinct   1,000 short-lived processes binding one port 20 times each:
             every one must be in the journal with its exact count
  programs   each BPF program's own cost (kernel.bpf_stats_enabled:
             run_time_ns / run_cnt) over an unguarded bind()+close() loop

Nothing here is a pass/fail assertion on time: the rows say what was
measured, and a measurement that cannot be made fails the run loudly.
"""
import json
import os
import socket
import statistics
import subprocess
import threading
import time

import cost
import suite
from suite import DETECT_PORT, GUARDED, PG, PROTECTED, STORM_PORTS

STORM_SECS = 3
FRESH = 20            # fresh binds per phase (quiet, during, after)
DISTINCT_PROCS = 1000
DISTINCT_BINDS = 20


class Follower:
    """`portguard events --follow --json` piped into bench/follow.c, which
    reads it (in C: it keeps up with any storm) and prints the arrival time
    of each line about `port`; only those few lines reach this process, so a
    storm's 100,000 lines a second cost the bench's own timings nothing
    (a reader thread here held the GIL while the main thread timed status)."""

    def __init__(self, g, tools, port):
        self.ev = subprocess.Popen([PG, "events", "--follow", "--json", "-c", g.conf],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.p = subprocess.Popen([tools["follow"], str(port)], stdin=self.ev.stdout,
                                  stdout=subprocess.PIPE, text=True)
        self.ev.stdout.close()  # follow's alone: its EOF is the follower's end
        self.want = {}
        self.lines = None
        self.eof = False
        self.cv = threading.Condition()
        self.th = threading.Thread(target=self.read, daemon=True)
        self.th.start()

    def read(self):
        for line in self.p.stdout:
            a, b = line.split()
            with self.cv:
                if a == "lines":
                    self.lines = int(b)
                    continue
                pid = int(a)
                if pid in self.want and self.want[pid] is None:
                    self.want[pid] = int(b)
                    self.cv.notify_all()
        with self.cv:
            self.eof = True
            self.cv.notify_all()

    def await_pid(self, pid, timeout):
        with self.cv:
            self.cv.wait_for(lambda: self.want.get(pid) is not None or self.eof, timeout)
            return self.want.pop(pid, None)

    def close(self):
        """Ends the follower; the number of lines it read."""
        self.ev.kill()
        self.ev.wait()
        self.p.wait(60)
        self.th.join(10)
        if self.lines is None:
            raise RuntimeError("bench/follow.c gave no line count (exit %s)" % self.p.returncode)
        return self.lines


def fresh_sight(fol, tools, port, timeout=30.0):
    """A new process binds `port` once; ms from its bind() call to the line."""
    p = subprocess.Popen([tools["fresh"], str(port)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE)
    with fol.cv:
        fol.want[p.pid] = None  # awaited before it binds: its line cannot be missed
    out, _ = p.communicate(b"g", timeout=60)
    seen = fol.await_pid(p.pid, timeout)
    if seen is None:
        raise RuntimeError("no line for a fresh rogue bind (pid %d) within %.0f s%s"
                           % (p.pid, timeout, "; the follower was dropped" if fol.eof else ""))
    return (seen - int(out)) / 1e6


def warm(fol, tools, port):
    """Until the follower is subscribed (its first lines may come before it is)."""
    for _ in range(50):
        try:
            return fresh_sight(fol, tools, port, timeout=0.5)
        except RuntimeError:
            if fol.eof:
                raise
    raise RuntimeError("the follower never saw a fresh rogue bind")


def status_ms(g):
    t0 = time.monotonic()
    r = g.cli("status", "--json", timeout=60)
    if r.returncode not in (0, 1):
        raise RuntimeError("status: exit %d: %s" % (r.returncode, r.stderr.strip()[-200:]))
    json.loads(r.stdout)
    return (time.monotonic() - t0) * 1000.0


def answer_ms(g):
    """The guard's own answer: a status request on its control socket, connect to the
    reply's last byte, from this (already running) process: no process start in it."""
    t0 = time.monotonic()
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(60)
    try:
        s.connect(os.path.join(g.dir, "ctl.sock"))
        s.sendall(b'{"cmd":"status"}\n')
        data = b""
        while not data.endswith(b"\n"):
            b = s.recv(1 << 16)
            if not b:
                raise RuntimeError("status on the control socket: closed after %d bytes"
                                   % len(data))
            data += b
    finally:
        s.close()
    json.loads(data)
    return (time.monotonic() - t0) * 1000.0


def spawn_ms():
    """The baseline of a CLI's wall time: starting and reaping any process (/bin/true)
    on the same host at the same moment."""
    t0 = time.monotonic()
    subprocess.run(["/bin/true"], check=True)
    return (time.monotonic() - t0) * 1000.0


def journal_counts(g, types, ports):
    n = 0
    for e in suite.journal(g):
        if e["type"] in types and e.get("port") in ports:
            n += e.get("count", 1)
    return n


def storm_sight(tools, d, mode):
    extra = "coalesce_window = 0\n" if mode == "observe" else ""
    g = suite.Guard(d, mode, GUARDED, str(PROTECTED), suite.owner_service(), extra)
    fol = None
    try:
        g.start()
        mem = suite.proc_mem_kb(g.pid)
        rest_kb, load_kb = mem.get("VmRSS"), mem.get("VmHWM")
        with open("/proc/%d/clear_refs" % g.pid, "w") as f:
            f.write("5")  # VmHWM starts over: the peak below is the storm's, not the load's
        fol = Follower(g, tools, DETECT_PORT)
        warm(fol, tools, DETECT_PORT)
        quiet = [fresh_sight(fol, tools, DETECT_PORT) for _ in range(FRESH)]
        st_quiet = [status_ms(g) for _ in range(10)]
        ans_quiet = [answer_ms(g) for _ in range(10)]
        sp_quiet = [spawn_ms() for _ in range(10)]
        lost0 = g.status()["guard"]["lost"]
        procs = [subprocess.Popen([tools["storm"], str(p), str(STORM_SECS), "0"],
                                  stdout=subprocess.PIPE, text=True) for p in STORM_PORTS]
        during, st_during, ans_during, sp_during = [], [], [], []
        time.sleep(0.3)
        while all(p.poll() is None for p in procs):
            during.append(fresh_sight(fol, tools, DETECT_PORT))
            st_during.append(status_ms(g))
            ans_during.append(answer_ms(g))
            sp_during.append(spawn_ms())
        res = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
        after = [fresh_sight(fol, tools, DETECT_PORT) for _ in range(FRESH)]
        st_after = [status_ms(g) for _ in range(10)]
        lost = g.status()["guard"]["lost"] - lost0
        peak_kb = suite.proc_mem_kb(g.pid).get("VmHWM")
        lines = fol.close()
        fol = None
        g.shutdown()  # the kernel's counts are journaled by now
        attempts = sum(r["attempts"] for r in res)
        counted = journal_counts(g, ("bind_denied", "rogue_bind"), STORM_PORTS)
        return {"mode": mode, "quiet": quiet, "during": during, "after": after,
                "st_quiet": st_quiet, "st_during": st_during, "st_after": st_after,
                "ans_quiet": ans_quiet, "ans_during": ans_during,
                "sp_quiet": sp_quiet, "sp_during": sp_during,
                "attempts": attempts, "counted": counted, "lost": lost, "lines": lines,
                "rest_kb": rest_kb, "peak_kb": peak_kb, "load_kb": load_kb,
                "rate": attempts / max(r["secs"] for r in res)}
    finally:
        if fol:
            fol.close()
        g.shutdown()


def distinct(tools, d):
    g = suite.Guard(d, "enforce", GUARDED, str(PROTECTED), suite.owner_service())
    try:
        g.start()
        r = subprocess.run([tools["forks"], str(STORM_PORTS[0]), str(DISTINCT_PROCS), "4",
                            str(DISTINCT_BINDS)], capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError("forks: %s" % r.stderr.strip())
        want, secs = {}, 0.0
        for line in r.stdout.splitlines():
            a, b = line.split()
            if a == "secs":
                secs = float(b)
            else:
                want[int(a)] = int(b)
        g.shutdown()
        got, lines = {}, 0
        for e in suite.journal(g):
            if e["type"] == "bind_denied" and e.get("port") == STORM_PORTS[0]:
                got[e["pid"]] = got.get(e["pid"], 0) + e.get("count", 1)
                lines += 1
        exact = sum(1 for pid, n in want.items() if got.get(pid) == n)
        return {"procs": len(want), "exact": exact, "lines": lines, "secs": secs,
                "attempts": sum(want.values()), "counted": sum(got.values())}
    finally:
        g.shutdown()


# ---- each program's own cost ----

def prog_stats():
    r = subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True, text=True,
                       timeout=30)
    out = {}
    for p in json.loads(r.stdout or "[]"):
        name = p.get("name", "")
        if name.startswith("pg_"):
            t, n = out.get(name, (0, 0))
            out[name] = (t + p.get("run_time_ns", 0), n + p.get("run_cnt", 0))
    return out


def programs(tools, d):
    """The unguarded bind()+close() loop with bpf_stats on: ns per run of each program,
    (key None) the loop's CPU per call without a guard, just before: the baseline, and
    ("noop") the ns per run of an empty program on the same hooks in the same loop."""
    path = "/proc/sys/kernel/bpf_stats_enabled"
    with open(path) as f:
        was = f.read().strip()
    base = statistics.median(cost.loops(tools)["unguarded"])  # CPU ns per call
    g = suite.Guard(d, "enforce", GUARDED, str(PROTECTED), suite.owner_service())
    try:
        g.start()
        with open(path, "w") as f:
            f.write("1")
        s0 = prog_stats()
        # beside the empty programs of bench/noop.c: what bpf_stats' own timing
        # of a run (two clock reads) adds to every program's run_time_ns
        _, st = cost.with_noop(tools, 1)
        s1 = prog_stats()
        t = sum(v[0] for v in st.values())
        n = sum(v[1] for v in st.values())
        out = {None: base, "noop": t / float(n) if n else None}
        for name, (t, n) in s1.items():
            t0, n0 = s0.get(name, (0, 0))
            if n - n0 > 0:
                out[name] = ((t - t0) / float(n - n0), (n - n0) / 50000.0)
        return out
    finally:
        with open(path, "w") as f:
            f.write(was)
        g.shutdown()


# ---- rows ----

def p(v, q):
    return suite.pct(v, q) if v else float("nan")


def rows(res):
    out = []
    for s in res.get("sight", []):
        if not s:
            continue
        m = "observe, coalesce_window = 0" if s["mode"] == "observe" else "enforce, defaults"
        q = statistics.median(s["quiet"])
        out.append(("sight of a fresh rogue bind (a new process on another guarded port: "
                    "bind() call -> its line on `events --follow`) during a %d s flat-out "
                    "storm from 2 processes, %s: p50 / max (n)"
                    % (STORM_SECS, m),
                    "%.2f / %.2f ms (%d)" % (statistics.median(s["during"]), max(s["during"]),
                                             len(s["during"])) if s["during"] else "none",
                    "the quiet guard, same run: %.2f / %.2f ms (%d)"
                    % (q, max(s["quiet"]), len(s["quiet"])),
                    "%.1fx" % (statistics.median(s["during"]) / q) if s["during"] else "-"))
        out.append(("... right after the storm: first / p50 / max (%d)" % len(s["after"]),
                    "%.2f / %.2f / %.2f ms" % (s["after"][0], statistics.median(s["after"]),
                                               max(s["after"])),
                    "quiet: %.2f ms" % q, "%.1fx" % (statistics.median(s["after"]) / q)))
        sq = statistics.median(s["st_quiet"])
        out.append(("`portguard status` wall time during / right after the storm, %s: "
                    "p50 / max" % m,
                    "%.0f / %.0f ms; after %.0f / %.0f ms"
                    % (statistics.median(s["st_during"]), max(s["st_during"]),
                       statistics.median(s["st_after"]), max(s["st_after"]))
                    if s["st_during"] else "none",
                    "quiet: %.0f / %.0f ms" % (sq, max(s["st_quiet"])),
                    "%.1fx" % (statistics.median(s["st_during"]) / sq)
                    if s["st_during"] else "-"))
        if s["ans_during"]:
            aq = statistics.median(s["ans_quiet"])
            out.append(("... of which the guard's answer (a status request on its control "
                        "socket, from a running process) during the storm, %s: p50 / p99 / "
                        "max (n)" % m,
                        "%.1f / %.1f / %.1f ms (%d)"
                        % (statistics.median(s["ans_during"]), p(s["ans_during"], 99),
                           max(s["ans_during"]), len(s["ans_during"])),
                        "quiet: %.1f / %.1f ms; a process start (/bin/true) during the "
                        "storm: %.1f / %.1f ms (quiet %.1f)"
                        % (aq, max(s["ans_quiet"]), statistics.median(s["sp_during"]),
                           max(s["sp_during"]), statistics.median(s["sp_quiet"])),
                        "%.1fx" % (statistics.median(s["ans_during"]) / aq)))
        out.append(("the storm's attempts in the journal (lines and counts), %s" % m,
                    "%d of %d (%.0f/s), %d lost in the kernel; %d lines on the follower"
                    % (s["counted"], s["attempts"], s["rate"], s["lost"], s["lines"]),
                    "binders' own count: %d" % s["attempts"],
                    "exact" if s["counted"] == s["attempts"] and not s["lost"]
                    else "%d unaccounted" % (s["attempts"] - s["counted"])))
        out.append(("guard RSS at rest / peak during and after the storm (VmHWM, reset "
                    "after start-up), %s" % m,
                    "%.1f / %.1f MiB" % (s["rest_kb"] / 1024.0, s["peak_kb"] / 1024.0),
                    "start-up peak (loading the BPF object): %.1f MiB" % (s["load_kb"] / 1024.0),
                    "-"))
    dd = res.get("distinct")
    if dd:
        out.append(("storm of %d distinct short-lived binders, %d binds each, enforce: "
                    "binders in the journal with their exact count" % (DISTINCT_PROCS,
                                                                       DISTINCT_BINDS),
                    "%d of %d (%d lines for %d attempts, %d counted; %.1f s)"
                    % (dd["exact"], dd["procs"], dd["lines"], dd["attempts"], dd["counted"],
                       dd["secs"]),
                    "binders' own count: %d" % dd["attempts"],
                    "all exact" if dd["exact"] == dd["procs"] else
                    "%d not exact" % (dd["procs"] - dd["exact"])))
    pr = dict(res.get("programs") or {})
    base = pr.pop(None, None)
    floor = pr.pop("noop", None)
    if pr:
        total = sum(ns * runs for ns, runs in pr.values())
        nruns = sum(runs for ns, runs in pr.values())
        net = "" if floor is None else (
            "; less bpf_stats' own timing of each run (an empty program on the same hooks, "
            "same loop: %.0f ns per run): %.0f ns%s" % (
                floor, total - floor * nruns,
                " = +%.1f%%" % (100.0 * (total - floor * nruns) / base) if base else ""))
        out.append(("each BPF program's own cost in an unguarded bind()+close() loop, enforce "
                    "(bpf_stats run_time_ns / run_cnt; runs per bind; programs that ran)",
                    "; ".join("%s %.0f ns x %.1f" % (n, ns, runs)
                              for n, (ns, runs) in sorted(pr.items()) if runs >= 0.05),
                    "bind()+close() without a guard, just before: %s CPU per call"
                    % suite.fmt_ns(base) if base else "-",
                    "%.0f ns of BPF per bind()+close()%s%s" % (
                        total, " = +%.1f%%" % (100.0 * total / base) if base else "", net)))
    return out


def run(d, tools, step):
    res = {"sight": []}
    for mode in ("observe", "enforce"):
        res["sight"].append(step("storm sight, %s" % mode, storm_sight, tools, d, mode))
    res["distinct"] = step("storm of distinct binders", distinct, tools, d)
    res["programs"] = step("per-program cost", programs, tools, d)
    return rows(res)
