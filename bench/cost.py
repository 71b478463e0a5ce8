"""The guard's cost to the rest of the host (bench/suite.py's step 2), paired
in time: ROUNDS rounds, each measuring the three loops with no guard, with
the guard observing and with it enforcing, one right after the other (the
order turned every round), so that the host's drift over a run (a shared VM
is slower or faster by 10-20 % from one minute to the next) falls on both
sides of every ratio. A row gives the medians over all rounds and, as the
ratio, the median of the rounds' own ratios (each round's guard median over
the same round's no-guard median).

  unguarded  socket()+bind()+close() on a port in nobody's list (what every
             other program on the host pays)
  owned      the same on a guarded port, by its owner (in its cgroup)
  getppid    a syscall with no socket at all

A fourth condition is the floor under any guard on cgroup hooks:
bench/noop.c's three programs that only return 1, on the hooks an
unguarded bind()+close() runs the guard's programs on (inet4 bind,
post_bind, sock_release), attached to a cgroup of the loop's own.

The loops are bench/bindloop.c: CPU time (user + system) per call.
"""
import os
import statistics
import subprocess

import suite
from pgtest import remove_cgroup_tree

ROUNDS = 5
REPS = 3  # per loop, condition and round


def bindloop(tools, args, wrap=()):
    """CPU ns per call, one per rep; with wrap (bench/noop.c ...), also the
    programs' bpf_stats: {name: (run_time_ns, run_cnt)}."""
    r = subprocess.run([*wrap, tools["bindloop"], *args], capture_output=True, text=True,
                       timeout=300)
    if r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(wrap + ("bindloop",) + tuple(args)),
                                       r.stderr.strip()))
    reps, st = [], {}
    for line in r.stdout.splitlines():
        f = line.split()
        if f[0].startswith("noop_"):
            st[f[0]] = (int(f[1]), int(f[2]))
        else:
            # "wall_ns cpu_ns" per rep: the CPU time (user + system of the loop,
            # BPF programs included), steadier than wall time on a shared VM
            reps.append(float(f[1]))
    return (reps, st) if wrap else reps


def loops(tools, cgprocs=None):
    n = str(suite.COST_BINDS)
    return {"unguarded": bindloop(tools, ["bind", str(suite.UNGUARDED_PORT), n, str(REPS)]),
            "owned": bindloop(tools, ["bind", str(suite.OWNED_PORT), n, str(REPS)]
                              + ([cgprocs] if cgprocs else [])),
            "getppid": bindloop(tools, ["getppid", str(suite.COST_GETPPID), str(REPS)])}


def noop_cgroup():
    cg = os.path.join(suite.cg_root(), "pgbench2-noop")
    os.makedirs(cg, exist_ok=True)
    return cg


def with_noop(tools, reps=REPS):
    """The unguarded loop in a cgroup with the three empty programs on it."""
    cg = noop_cgroup()
    try:
        return bindloop(tools, ["bind", str(suite.UNGUARDED_PORT), str(suite.COST_BINDS),
                                str(reps), os.path.join(cg, "cgroup.procs")],
                        (tools["noop"], cg))
    finally:
        remove_cgroup_tree(cg)


def with_guard(tools, d, mode):
    extra = "coalesce_window = 0\n" if mode == "observe" else ""
    g = suite.Guard(d, mode, suite.GUARDED, str(suite.PROTECTED), suite.owner_service(), extra)
    try:
        g.start()
        return loops(tools, os.path.join(g.svc_cgroup("owner"), "cgroup.procs"))
    finally:
        g.shutdown()


def measure(tools, d):
    """{condition: [one {loop: [ns per call per rep]} per round]}"""
    conds = ["none", "noop", "observe", "enforce"]
    res = {c: [] for c in conds}
    for r in range(ROUNDS):
        for c in conds[r % 4:] + conds[:r % 4]:
            if c == "none":
                res[c].append(loops(tools))
            elif c == "noop":
                res[c].append({"unguarded": with_noop(tools)[0]})
            else:
                res[c].append(with_guard(tools, d, c))
    return res


def rows(res, foreign):
    out = []
    note = "no guard" + (" (%d foreign cgroup programs attached)" % foreign if foreign > 0
                         else "")
    for key, label in (("unguarded", "bind()+close(), unguarded port"),
                       ("owned", "bind()+close(), guarded port, by its owner"),
                       ("getppid", "getppid()")):
        n = suite.COST_GETPPID if key == "getppid" else suite.COST_BINDS
        base_all = [x for rd in res["none"] for x in rd[key]]
        base = statistics.median(base_all)
        for mode in ("noop", "observe", "enforce"):
            if key not in res[mode][0]:
                continue
            rounds = [statistics.median(rd[key]) / statistics.median(b[key])
                      for rd, b in zip(res[mode], res["none"])]
            allv = [x for rd in res[mode] for x in rd[key]]
            m = statistics.median(allv)
            ratio = statistics.median(rounds)
            who = ("three programs that only return 1 on the same hooks (bench/noop.c: "
                   "the floor of any guard on cgroup hooks)" if mode == "noop"
                   else "guard " + mode)
            out.append(("%s, %s: CPU per call (median of %d rounds x %d x %dk, each round "
                        "beside its own no-guard run)" % (label, who, ROUNDS, REPS, n // 1000),
                        "%s/call (reps +-%.0f%%)" % (suite.fmt_ns(m), suite.spread(allv)),
                        "%s, same rounds: %s/call (reps +-%.0f%%)"
                        % (note, suite.fmt_ns(base), suite.spread(base_all)),
                        "%.2fx (%+.1f%%; rounds %+.0f..%+.0f%%)"
                        % (ratio, (ratio - 1) * 100, (min(rounds) - 1) * 100,
                           (max(rounds) - 1) * 100)))
    return out
