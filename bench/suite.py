"""The benchmarks of `make bench` beyond restart (bench/restart.py), each
beside its baseline measured in the same run:

  detection  rogue bind -> rogue_bind event on `portguard events --follow`,
             against a watcher polling `ss -ltnup` every 100 ms and every 1 s
  cost       bench/cost.py: bind()+close() on an unguarded and on an owned
             guarded port, and getppid(), with no guard, the guard observing
             and enforcing, in rounds paired in time
  storm      2 processes binding a guarded port as fast as they can (enforce):
             attempts against denials + events lost; then the same at 50,000/s
  idle       the guard with the 8 demo services, 30 s of nothing: CPU and
             context switches, against supervisord with the same 8 programs
             and an `ss -ltnup` loop at 1 s
  footprint  the guard's RSS (steady, peak) and the locked memory of its maps
             and programs, against supervisord's RSS
  storms     bench/storms.py: sight of a fresh rogue bind and status during
             and after a flat-out storm (both modes), exact counts, peak RSS,
             1,000 distinct binders, each BPF program's own cost

Ports 19300-19399 only; instance name pgbench2 with its own config, state,
control socket and bpffs in a temp dir; every guard is shut down and the
temp dir removed, also on errors. The tight loops are C (bench/*.c, built
with gcc -O2 into the temp dir). run() returns table rows for bench/run.py.
"""
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from pgtest import remove_cgroup_tree  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from restart import DEMO, PG, trading_sections, write_supervisord_conf  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
NAME = "pgbench2"
# Ports (19300-19399 only).
GUARDED = "19300-19309"       # guard of the detection, cost and storm benchmarks
DETECT_PORT = 19300           # reserved: guarded, owned by no service
OWNED_PORT = 19301            # owned by the background service "owner"
STORM_PORTS = (19302, 19303)  # reserved
UNGUARDED_PORT = 19398        # in nobody's list
IDLE_PG_BASE = 19310          # the 8 demo services under the guard: 19310-19317
IDLE_SV_BASE = 19320          # the same 8 under supervisord: 19320-19327
IDLE_PROTECTED = (19350, 19351, 19352, 19353)
POLL_PORTS = range(19360, 19390)  # one fresh port per poll-baseline sample
PROTECTED = 19399
RECLAIM_PORT = 19304          # owned by the http service "web" of the reclaim benchmark
RECLAIM_REPS = 5

DETECT_BINDS = 2000
DETECT_INTERVAL_US = 2000
POLL_SAMPLES = {0.1: 30, 1.0: 10}
COST_BINDS = 50000
COST_GETPPID = 500000
STORM_SECS = 10
PACED_RATE = 50000
PACED_SECS = 5
IDLE_SECS = 30

CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def cg_root():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            sep = parts.index("-")
            if parts[sep + 1] == "cgroup2":
                return parts[4]
    return None


def pct(values, p):
    """Nearest-rank percentile."""
    v = sorted(values)
    if not v:
        return float("nan")
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def wait_for(pred, what, timeout=30.0, step=0.05):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise RuntimeError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(step)


def build_helpers(d):
    out = {}
    for name, extra in (("bindloop", []), ("storm", []), ("rogue", ["-pthread"]), ("forks", []),
                        ("fresh", []), ("follow", []), ("noop", [])):
        exe = os.path.join(d, name)
        subprocess.run(["gcc", "-O2", "-Wall", "-o", exe, os.path.join(HERE, name + ".c")]
                       + extra, check=True, timeout=120)
        out[name] = exe
    return out


# ---- a guard of our own ----

class Guard:
    """One portguard instance (pgbench2) with its own config in a temp dir."""

    def __init__(self, parent, mode, ports, protected, services, extra=""):
        self.dir = tempfile.mkdtemp(prefix="guard-", dir=parent)
        self.conf = os.path.join(self.dir, "portguard.conf")
        self.state = os.path.join(self.dir, "state")
        self.bpffs = os.path.join(self.dir, "bpffs")
        self.proc = None
        self.err = None
        with open(self.conf, "w") as f:
            f.write("[guard]\nname = %s\nports = %s\nprotected = %s\nmode = %s\n"
                    "control = %s/ctl.sock\nstate_dir = %s\nlog_dir = %s/log\nbpffs = %s\n"
                    "on_rogue = deny\n%s\n%s"
                    % (NAME, ports, protected, mode, self.dir, self.state, self.dir,
                       self.bpffs, extra, services))

    def cli(self, *args, timeout=60):
        return subprocess.run([PG, *args, "-c", self.conf], capture_output=True, text=True,
                              timeout=timeout)

    def start(self):
        self.err = open(os.path.join(self.dir, "guard.stderr"), "w")
        self.proc = subprocess.Popen([PG, "run", "-c", self.conf], stdout=subprocess.DEVNULL,
                                     stderr=self.err, start_new_session=True)

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError("the guard exited %d: %s" % (self.proc.returncode,
                                                                 self.stderr_tail()))
            return self.cli("status", timeout=20).returncode == 0
        wait_for(up, "the guard and its services", 30)
        return self

    def stderr_tail(self):
        try:
            with open(os.path.join(self.dir, "guard.stderr")) as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def status(self):
        return json.loads(self.cli("status", "--json", timeout=30).stdout)

    @property
    def pid(self):
        return self.proc.pid

    def svc_cgroup(self, svc):
        return os.path.join(cg_root(), "portguard-" + NAME, svc)

    def shutdown(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.cli("shutdown", timeout=60)
            except subprocess.TimeoutExpired:
                pass
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        cg = os.path.join(cg_root() or "/nonexistent", "portguard-" + NAME)
        if os.path.isdir(cg):  # the guard died: let the CLI clean up, then by hand
            try:
                self.cli("shutdown", timeout=60)
            except subprocess.TimeoutExpired:
                pass
        remove_cgroup_tree(cg)  # the tests' last resort (it knows kernels without cgroup.kill)
        if os.path.ismount(self.bpffs):
            pins = os.path.join(self.bpffs, "portguard", NAME)
            for f in os.listdir(pins) if os.path.isdir(pins) else []:
                os.unlink(os.path.join(pins, f))
            subprocess.run(["umount", "-l", self.bpffs])
        if self.err:
            self.err.close()
            self.err = None


def owner_service():
    return ("[service:owner]\ncommand = %s background --name owner\nport = %d\n"
            "type = background\nstart_window = 100ms\nstop_timeout = 2s\npriority = 10\n"
            % (DEMO, OWNED_PORT))


# ---- /proc ----

def proc_cpu_ticks(pid, children=False):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3): utime is field 14, stime 15, cutime 16, cstime 17
    t = int(fields[11]) + int(fields[12])
    if children:
        t += int(fields[13]) + int(fields[14])
    return t


def proc_ctxsw(pid):
    n = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
            for line in f:
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    n += int(line.split()[1])
    return n


def proc_oncpu_ns(pid):
    n = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
            n += int(f.read().split()[0])
    return n


def proc_mem_kb(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


def foreign_cgroup_progs():
    """Programs attached at the cgroup v2 root by others (other guards, tests):
    they tax every bind of the no-guard baseline too."""
    r = subprocess.run(["bpftool", "cgroup", "show", cg_root(), "-j"], capture_output=True,
                       text=True, timeout=20)
    try:
        return len(json.loads(r.stdout or "[]"))
    except ValueError:
        return -1


# ---- 2. cost to the host: bench/cost.py ----


# ---- 1. detection latency ----

def detection(tools, g):
    r = subprocess.run([tools["rogue"], str(DETECT_PORT), str(DETECT_BINDS),
                        str(DETECT_INTERVAL_US), PG, "events", "--follow", "--json", "-c",
                        g.conf], capture_output=True, text=True,
                       timeout=60 + DETECT_BINDS * DETECT_INTERVAL_US / 1e6)
    if r.returncode != 0:
        raise RuntimeError("rogue: %s" % r.stderr.strip())
    lat, kts, late, missing, nocookie = [], [], [], 0, 0
    for line in r.stdout.splitlines():
        cookie, at, recv, ts_us, late_ns = (int(x) for x in line.split())
        late.append(late_ns / 1000.0)
        if not cookie:
            nocookie += 1
        elif recv < 0:
            missing += 1
        else:
            lat.append((recv - at) / 1000.0)  # us
            kts.append(ts_us - at / 1000.0)   # us: the event's "ts" against bind() return
    return {"lat": lat, "kts": kts, "late": late, "missing": missing, "nocookie": nocookie}


def poll_baseline(interval, ports):
    """A watcher running `ss -ltnup` then sleeping `interval`, in a thread; the
    main thread opens one listener at a random phase per sample and notes
    when the watcher first shows it. Returns latencies in ms."""
    armed = {"port": None, "seen": None}
    cv = threading.Condition()
    stop = threading.Event()
    pat = {}

    def watcher():
        while not stop.is_set():
            out = subprocess.run(["ss", "-ltnup"], capture_output=True, text=True,
                                 timeout=30).stdout
            now = time.time()
            with cv:
                p = armed["port"]
                if p is not None and armed["seen"] is None and pat[p].search(out):
                    armed["seen"] = now
                    cv.notify_all()
            stop.wait(interval)

    lat = []
    th = threading.Thread(target=watcher, daemon=True)
    th.start()
    try:
        for port in ports:
            pat[port] = re.compile(r"127\.0\.0\.1:%d\s" % port)
            time.sleep(random.uniform(0, interval))
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
                s.listen(1)
                t0 = time.time()
                with cv:
                    armed["port"], armed["seen"] = port, None
                    if not cv.wait_for(lambda: armed["seen"] is not None, interval * 5 + 5):
                        raise RuntimeError("ss watcher never saw port %d" % port)
                    lat.append((armed["seen"] - t0) * 1000.0)
                    armed["port"] = None
            finally:
                s.close()
    finally:
        stop.set()
        th.join(30)
    return lat


# ---- 3. storm ----

def storm(tools, g, secs, rate_total):
    def counts():
        st = g.status()
        denied = sum(p.get("denied", 0) for p in st["ports"] if p["port"] in STORM_PORTS)
        return denied, st["guard"]["lost"]
    d0, l0 = counts()
    per = rate_total / len(STORM_PORTS) if rate_total else 0
    procs = [subprocess.Popen([tools["storm"], str(p), str(secs), str(per)],
                              stdout=subprocess.PIPE, text=True) for p in STORM_PORTS]
    res = []
    try:
        for p in procs:
            out, _ = p.communicate(timeout=secs + 60)
            res.append(json.loads(out))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    attempts = sum(r["attempts"] for r in res)
    eperm = sum(r["eperm"] for r in res)
    wall = max(r["secs"] for r in res)
    t_end = time.monotonic()
    # the guard drains the ring buffer: until denied + lost covers every attempt,
    # or stops moving for 3 s
    last, still = None, time.monotonic()
    while True:
        d, lost = counts()
        cur = (d - d0, lost - l0)
        if cur[0] + cur[1] >= attempts:
            break
        if cur != last:
            last, still = cur, time.monotonic()
        elif time.monotonic() - still > 3:
            break
        if time.monotonic() - t_end > 60:
            break
        time.sleep(0.2)
    return {"attempts": attempts, "eperm": eperm, "secs": wall, "denied": cur[0],
            "lost": cur[1], "drain_s": time.monotonic() - t_end,
            "other": sum(r["other"] + r["ok"] for r in res)}


# ---- 4 and 5. idle and footprint ----

def idle_guard_services(d):
    pmap = {real: IDLE_PG_BASE + i for i, real in enumerate([3000, 4000, 6000, 8001, 8002,
                                                              8003, 8004, 8005])}
    return ", ".join(str(p) for p in pmap.values()), "\n".join(trading_sections(d, pmap))


def supervisord_conf(d):
    return write_supervisord_conf(d, {real: IDLE_SV_BASE + i for i, real in enumerate(
        [3000, 4000, 6000, 8001, 8002, 8003, 8004, 8005])})


def bpf_memlock(bpffs):
    """Locked kernel memory (bytes) of the pinned maps (and the ring buffer
    among them) and of the programs behind the pinned links."""
    pins = os.path.join(bpffs, "portguard", NAME)
    maps, ring, progs, ids = 0, 0, 0, set()
    for f in sorted(os.listdir(pins)):
        path = os.path.join(pins, f)
        if f.startswith("link_"):
            r = subprocess.run(["bpftool", "link", "show", "pinned", path, "-j"],
                               capture_output=True, text=True, timeout=20)
            try:
                ids.add(json.loads(r.stdout)["prog_id"])
            except (ValueError, KeyError):
                pass
            continue
        r = subprocess.run(["bpftool", "map", "show", "pinned", path, "-j"],
                           capture_output=True, text=True, timeout=20)
        try:
            m = json.loads(r.stdout)
        except ValueError:
            continue
        maps += int(m.get("bytes_memlock", 0))
        if m.get("type") == "ringbuf":
            ring += int(m.get("bytes_memlock", 0))
    for i in ids:
        r = subprocess.run(["bpftool", "prog", "show", "id", str(i), "-j"],
                           capture_output=True, text=True, timeout=20)
        try:
            progs += int(json.loads(r.stdout).get("bytes_memlock", 0))
        except ValueError:
            pass
    return {"maps": maps, "ring": ring, "progs": progs, "nprogs": len(ids)}


def idle(d):
    gdir = os.path.join(d, "idle")
    os.makedirs(gdir)
    ports, services = idle_guard_services(gdir)
    g = Guard(d, "observe", ports, ", ".join(str(p) for p in IDLE_PROTECTED), services)
    sv_conf = supervisord_conf(gdir)
    sv_pid_file = os.path.join(gdir, "supervisord.pid")
    ctl = ["supervisorctl", "-c", sv_conf]
    loop = None
    sv_started = False
    try:
        g.start()
        if shutil.which("supervisord"):
            subprocess.run(["supervisord", "-c", sv_conf], check=True, timeout=30)
            sv_started = True
            wait_for(lambda: subprocess.run(ctl + ["status"], capture_output=True, text=True,
                                            timeout=30).stdout.count("RUNNING") == 8,
                     "supervisord's 8 programs", 30, 0.2)
        sv_pid = int(open(sv_pid_file).read()) if sv_started else None
        time.sleep(1.5)  # let start-up settle (health checks, logs)
        g0 = (proc_cpu_ticks(g.pid), proc_oncpu_ns(g.pid), proc_ctxsw(g.pid))
        s0 = (proc_cpu_ticks(sv_pid), proc_oncpu_ns(sv_pid), proc_ctxsw(sv_pid)) \
            if sv_pid else None
        t0 = time.monotonic()
        loop = subprocess.Popen(["bash", "-c", "for i in $(seq %d); do ss -ltnup >/dev/null; "
                                 "sleep 1; done" % IDLE_SECS], start_new_session=True)
        time.sleep(IDLE_SECS - 15)
        g_mid = (proc_ctxsw(g.pid), proc_oncpu_ns(g.pid))
        s_mid = proc_ctxsw(sv_pid) if sv_pid else None
        time.sleep(15)
        g1 = (proc_cpu_ticks(g.pid), proc_oncpu_ns(g.pid), proc_ctxsw(g.pid))
        s1 = (proc_cpu_ticks(sv_pid), proc_oncpu_ns(sv_pid), proc_ctxsw(sv_pid)) \
            if sv_pid else None
        window = time.monotonic() - t0
        ru = None
        end = time.monotonic() + 60
        while ru is None:  # the loop and every child it reaped
            pid, _, r = os.wait4(loop.pid, os.WNOHANG)
            if pid:
                ru = r
            elif time.monotonic() > end:
                raise RuntimeError("the ss loop did not end")
            else:
                time.sleep(0.1)
        loop_wall = time.monotonic() - t0
        loop.returncode = 0
        mem = proc_mem_kb(g.pid)
        lock = bpf_memlock(g.bpffs)
        sv_mem = proc_mem_kb(sv_pid) if sv_pid else None
        return {
            "window": window,
            "guard": {"cpu_ms": (g1[0] - g0[0]) * 1000.0 / CLK_TCK,
                      "oncpu_us": (g1[1] - g0[1]) / 1000.0, "ctxsw": g1[2] - g0[2],
                      "ctxsw_last15": g1[2] - g_mid[0],
                      "oncpu_last15_us": (g1[1] - g_mid[1]) / 1000.0},
            "sv": {"cpu_ms": (s1[0] - s0[0]) * 1000.0 / CLK_TCK,
                   "oncpu_us": (s1[1] - s0[1]) / 1000.0, "ctxsw": s1[2] - s0[2],
                   "ctxsw_last15": s1[2] - s_mid}
            if sv_pid else None,
            "loop": {"cpu_ms": (ru.ru_utime + ru.ru_stime) * 1000.0,
                     "ctxsw": ru.ru_nvcsw + ru.ru_nivcsw, "wall": loop_wall},
            "mem": mem, "lock": lock, "sv_mem": sv_mem,
        }
    finally:
        if loop is not None and loop.returncode is None:
            try:
                os.killpg(loop.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(loop.pid, 0)
            except ChildProcessError:
                pass
        if sv_started:
            subprocess.run(ctl + ["shutdown"], capture_output=True, timeout=60)
            try:
                wait_for(lambda: not os.path.exists(sv_pid_file), "supervisord to exit", 30)
            except RuntimeError as e:
                log(str(e))
        g.shutdown()


# ---- the table ----

def fmt_ns(v):
    return "%.0f ns" % v if v < 10000 else "%.1f us" % (v / 1000.0)


def spread(v):
    """Half the range of the repetitions, in % of their median."""
    m = statistics.median(v)
    return (max(v) - min(v)) / 2.0 / m * 100.0 if m else 0.0


def ts_us(ts):
    """RFC 3339 with microseconds -> microseconds since the epoch."""
    import datetime
    t = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")
    return int(t.replace(tzinfo=datetime.timezone.utc).timestamp() * 1e6)


def journal(g):
    """Every line of the guard's journal, oldest first: the files it rotated to
    (events.jsonl.3, .2, .1: a storm in observe mode writes some 75 MB/s, past
    journal_max) and events.jsonl."""
    out = []
    path = os.path.join(g.state, "events.jsonl")
    for p in ["%s.%d" % (path, i) for i in (3, 2, 1)] + [path]:
        try:
            with open(p) as f:
                for line in f:
                    out.append(json.loads(line))
        except FileNotFoundError:
            pass
    return out


def reclaim_once(d, svc, holder_code):
    """A stale holder listens on the owner's port before the guard starts (an
    `allow`ed holder is never flushed, and in enforce mode nobody else can
    bind it while a guard or its pins run): from the guard's `reclaim` to the
    owner's `service_ready`, both from the journal."""
    g = Guard(d, "enforce", str(RECLAIM_PORT), str(PROTECTED), svc)
    h = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                          sys.executable, "-c", holder_code], stdout=subprocess.PIPE, text=True)
    try:
        if h.stdout.readline().strip() != "listening":
            raise RuntimeError("the holder did not listen")
        g.err = open(os.path.join(g.dir, "guard.stderr"), "w")
        g.proc = subprocess.Popen([PG, "run", "-c", g.conf], stdout=subprocess.DEVNULL,
                                  stderr=g.err, start_new_session=True)

        def done():
            if g.proc.poll() is not None:
                raise RuntimeError("the guard exited: %s" % g.stderr_tail())
            try:
                evs = journal(g)
            except OSError:
                return None
            rec = [e for e in evs if e["type"] == "reclaim"]
            rdy = [e for e in evs if e["type"] == "service_ready" and e.get("service") == "web"]
            return (rec, rdy) if rec and rdy else None
        rec, rdy = wait_for(done, "the reclaim", 30)
        h.wait(10)
        return (ts_us(rdy[-1]["ts"]) - ts_us(rec[0]["ts"])) / 1000.0
    finally:
        if h.poll() is None:
            h.kill()
            h.wait()
        g.shutdown()


def reclaim(d):
    """Owner's port held by a stale holder when the guard starts (enforce,
    on_conflict = reclaim): the holder flushed, the owner started and
    listening. A fresh guard each time: one incident each, no backoff."""
    svc = ("[service:web]\ncommand = %s http --port %d --name web\nport = %d\n"
           "health = /health\nstop_timeout = 2s\n" % (DEMO, RECLAIM_PORT, RECLAIM_PORT))
    holder_code = ("import socket, time\ns = socket.socket()\n"
                   "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                   "s.bind(('0.0.0.0', %d)); s.listen()\nprint('listening', flush=True)\n"
                   "time.sleep(60)\n" % RECLAIM_PORT)
    return [reclaim_once(d, svc, holder_code) for _ in range(RECLAIM_REPS)]


def run():
    t_start = time.monotonic()
    rows = []
    d = tempfile.mkdtemp(prefix="pg-bench2-")
    try:
        tools = build_helpers(d)

        def step(name, fn, *args):
            log("%s (%.0f s in)" % (name, time.monotonic() - t_start))
            try:
                return fn(*args)
            except Exception as e:  # keep going: the other benchmarks still run
                log("%s failed: %s" % (name, e))
                rows.append((name, "FAILED: %s" % str(e).replace("\n", " ")[:200], "-", "-"))
                return None

        storm_rows = []
        costs = None
        foreign = foreign_cgroup_progs()
        polls = {}
        for iv, n in POLL_SAMPLES.items():
            polls[iv] = step("ss poll %g s" % iv, poll_baseline, iv, list(POLL_PORTS)[:n])

        # observe: cost, then detection
        det = None
        # coalesce_window = 0: one rogue_bind line per socket (by default repeated
        # alerts of one binder on one port within 1 s are folded into one)
        g = Guard(d, "observe", GUARDED, str(PROTECTED), owner_service(),
                  "coalesce_window = 0\n")
        try:
            if step("guard (observe) start", g.start):
                det = step("detection latency", detection, tools, g)
        finally:
            g.shutdown()

        # enforce: cost, storm, paced storm
        st = paced = None
        storm_hwm = None
        g = Guard(d, "enforce", GUARDED, str(PROTECTED), owner_service())
        try:
            if step("guard (enforce) start", g.start):
                st = step("storm", storm, tools, g, STORM_SECS, 0)
                paced = step("storm at 50,000/s", storm, tools, g, PACED_SECS, PACED_RATE)
                storm_hwm = proc_mem_kb(g.pid).get("VmHWM")
        finally:
            g.shutdown()

        import cost  # noqa: E402 (it imports this module)
        import storms  # noqa: E402 (it imports this module)
        storm_rows = storms.run(d, tools, step)
        rec = step("reclaim", reclaim, d)
        idl = step("idle + footprint", idle, d)
        costs = step("cost, paired rounds", cost.measure, tools, d)
        foreign = max(foreign, foreign_cgroup_progs())
    finally:
        shutil.rmtree(d, ignore_errors=True)

    # 1. detection
    p100, p1s = polls.get(0.1), polls.get(1.0)
    if det:
        lat = det["lat"]
        base = []
        if p100:
            base.append("ss poll 100 ms: p50 %.0f / p99 %.0f / max %.0f ms (%d listeners)"
                        % (statistics.median(p100), pct(p100, 99), max(p100), len(p100)))
        if p1s:
            base.append("1 s: p50 %.0f / p99 %.0f / max %.0f ms (%d)"
                        % (statistics.median(p1s), pct(p1s, 99), max(p1s), len(p1s)))
        ratio = "-"
        if p100 and lat:
            ratio = "%.0fx sooner (p50 vs 100 ms poll)" % (
                statistics.median(p100) * 1000.0 / statistics.median(lat))
        if lat:
            rows.append(("detection latency p50/p99/max (%d rogue binds every %g ms, bind() "
                         "return -> line on `events --follow`)"
                         % (DETECT_BINDS, DETECT_INTERVAL_US / 1000.0),
                         "%.0f/%.0f/%.0f us" % (statistics.median(lat), pct(lat, 99), max(lat)),
                         "; ".join(base) or "-", ratio))
            rows.append(("rogue binds reported (one rogue_bind per socket)",
                         "%d of %d" % (len(lat), DETECT_BINDS),
                         "-", "%d missing" % (det["missing"] + det["nocookie"])))
            k, lt = det["kts"], det["late"]
            rows.append(("noise floor, same run: the binder's 2 ms timer wake-up lateness "
                         "p50/p99/max; event \"ts\" (kernel hook) minus bind() return",
                         "%.0f/%.0f/%.0f us; ts - bind p50 %.0f us (min %.0f)"
                         % (statistics.median(lt), pct(lt, 99), max(lt), statistics.median(k),
                            min(k)),
                         "-", "%d of %d detections over 1 ms"
                         % (sum(1 for x in lat if x > 1000), len(lat))))
        else:
            rows.append(("detection latency", "no rogue_bind event received", "-", "-"))

    # 2. cost
    if costs:
        rows += cost.rows(costs, foreign)

    # 3. storm
    for label, s in (("storm: 2 procs rogue bind as fast as they can, %d s, enforce"
                      % STORM_SECS, st),
                     ("storm paced at %d binds/s, %d s, enforce" % (PACED_RATE, PACED_SECS),
                      paced)):
        if not s:
            continue
        acc = s["denied"] + s["lost"]
        rows.append((label,
                     "%d attempts (%d EPERM) = %.0f/s; denied+counted %d, lost %d"
                     % (s["attempts"], s["eperm"], s["attempts"] / s["secs"], s["denied"],
                        s["lost"]),
                     "binders' own count: %d attempts" % s["attempts"],
                     "%s (%d unaccounted, %d not EPERM; drained in %.1f s)"
                     % ("every attempt accounted for" if acc == s["attempts"]
                        else "NOT all accounted", s["attempts"] - acc, s["other"],
                        s["drain_s"])))

    rows += storm_rows

    # 6. reclaim
    if rec:
        base = "-"
        if p1s:
            base = ("what the seed's script needs: a 1 s ss poll to notice (p50 %.0f ms, this "
                    "run) + kill + sleep + a supervisor restart (see the restart rows)"
                    % statistics.median(p1s))
        rows.append(("reclaim: a stale holder listens on the owner's port at the guard's "
                     "start -> the holder flushed, the owner listening again (the guard's "
                     "`reclaim` -> `service_ready`, median of %d, from the journal)"
                     % len(rec), "%.0f ms (min %.0f, max %.0f)"
                     % (statistics.median(rec), min(rec), max(rec)), base,
                     "%.0fx sooner than the poll alone" % (statistics.median(p1s) /
                                                            statistics.median(rec))
                     if p1s else "-"))

    # 4. idle, 5. footprint
    if idl:
        w = idl["window"]
        gi, sv, lp = idl["guard"], idl["sv"], idl["loop"]
        base = []
        if sv:
            base.append("supervisord: %.0f ms CPU, %d ctx switches (%d in the last 15 s)"
                        % (sv["cpu_ms"], sv["ctxsw"], sv["ctxsw_last15"]))
        base.append("ss -ltnup loop at 1 s: %.0f ms CPU, %d ctx switches (%.1f s)"
                    % (lp["cpu_ms"], lp["ctxsw"], lp["wall"]))
        rows.append(("idle %.0f s, 8 services: CPU (utime+stime), ctx switches "
                     "(voluntary+involuntary)" % w,
                     "%.0f ms CPU (%.0f us on-CPU), %d ctx switches (%d in the last 15 s)"
                     % (gi["cpu_ms"], gi["oncpu_us"], gi["ctxsw"], gi["ctxsw_last15"]),
                     "; ".join(base),
                     "%d vs %d wake-ups (supervisord)" % (gi["ctxsw"], sv["ctxsw"])
                     if sv else "-"))
        mem, lock, svm = idl["mem"], idl["lock"], idl["sv_mem"]
        rows.append(("footprint: guard RSS steady / peak (VmRSS / VmHWM)",
                     "%.1f / %.1f MiB (peak after the storm: %s)"
                     % (mem["VmRSS"] / 1024.0, mem["VmHWM"] / 1024.0,
                        "%.1f MiB" % (storm_hwm / 1024.0) if storm_hwm else "?"),
                     "supervisord: %.1f / %.1f MiB" % (svm["VmRSS"] / 1024.0,
                                                       svm["VmHWM"] / 1024.0) if svm else "-",
                     "%.2fx supervisord's RSS" % (mem["VmRSS"] / float(svm["VmRSS"]))
                     if svm else "-"))
        rows.append(("footprint: locked kernel memory (bpftool memlock of the pins)",
                     "maps %.1f MiB (ring buffer %.1f MiB), %d programs %.0f KiB"
                     % (lock["maps"] / 1048576.0, lock["ring"] / 1048576.0, lock["nprogs"],
                        lock["progs"] / 1024.0), "-", "-"))
    log("done in %.0f s" % (time.monotonic() - t_start))
    return rows


if __name__ == "__main__":
    for r in run():
        print(" | ".join(r))
