"""Events to systemd's journal with structured fields (issue 14). The guard
runs in a private mount namespace whose /run is a tmpfs with a stand-in for
journald's socket (/run/systemd/journal/socket, a datagram socket of this
test, reading the native protocol sd_journal_sendv speaks), and with
JOURNAL_STREAM naming its stderr, as systemd.exec(5) sets it. Each event
reaches the journal once, with MESSAGE_ID, PRIORITY and PORTGUARD_* fields,
and not again on stderr."""
import json
import os
import subprocess
import sys
import urllib.request

from pgtest import BASE, GuardTest, wait_for

ROGUE = BASE + 12
METRICS = BASE + 96

# Every stand-in: a datagram socket bound at argv[1], then argv[2].ready made.
LISTEN = r"""
import json, os, socket, struct, sys, time
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
open(out + ".ready", "w").close()
"""

# The stand-in journald: each datagram's fields, one JSON object per line.
RECEIVER = LISTEN + r"""
while True:
    d = s.recv(1 << 20)
    fields, i = {}, 0
    while i < len(d):
        nl = d.index(b"\n", i)
        line = d[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            i = nl + 1
        else:  # KEY\n<le64 size><value>\n
            k, (n,) = line, struct.unpack("<Q", d[nl + 1:nl + 9])
            v = d[nl + 9:nl + 9 + n]
            i = nl + 9 + n + 1
        fields[k.decode()] = v.decode(errors="replace")
    with open(out, "a") as f:
        f.write(json.dumps(fields) + "\n")
"""

# A journald (or syslog daemon) that has stopped reading: bound, never read from.
STUCK = LISTEN + r"""
time.sleep(3600)
"""

# One process: socket(), bind(), close() n times on a port; prints n.
BINDER = ("import socket, sys\n"
          "n, port = int(sys.argv[1]), int(sys.argv[2])\n"
          "for i in range(n):\n"
          "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
          "    s.bind(('127.0.0.1', port)); s.close()\n"
          "print(n, flush=True)\n")

# A stand-in syslog daemon on /dev/log: each datagram as one JSON string per line.
SYSLOG = LISTEN + r"""
while True:
    d = s.recv(1 << 20)
    with open(out, "a") as f:
        f.write(json.dumps(d.decode(errors="replace")) + "\n")
"""

# In the private namespace: /dev a tmpfs with the devices the guard opens and the
# stand-in syslog daemon's /dev/log; stderr not the journal; the guard.
WRAP_SYSLOG = ('mount -t tmpfs none /dev && mknod -m 666 /dev/null c 1 3 && '
               'mknod -m 666 /dev/zero c 1 5 && mknod -m 666 /dev/urandom c 1 9 && '
               'mknod -m 666 /dev/random c 1 8 && ln -s /proc/self/fd /dev/fd && '
               'setpriv --pdeathsig KILL %s -c "$PG_RECEIVER" /dev/log "$PG_OUT" & '
               'while [ ! -e "$PG_OUT.ready" ]; do sleep 0.01; done; '
               'unset JOURNAL_STREAM; exec "$@"' % sys.executable)

# In the private namespace: /run a tmpfs, the stand-in journald, JOURNAL_STREAM, the guard.
WRAP = ('mount -t tmpfs none /run && mkdir -p /run/systemd/journal && '
        'setpriv --pdeathsig KILL %s -c "$PG_RECEIVER" /run/systemd/journal/socket "$PG_OUT" & '
        'while [ ! -e "$PG_OUT.ready" ]; do sleep 0.01; done; '
        'JOURNAL_STREAM=$(stat -L -c "%%d:%%i" /proc/$$/fd/2) exec "$@"' % sys.executable)


class JournaldTest(GuardTest):
    def start_with(self, g, receiver, out, wrap=WRAP):
        os.environ["PG_RECEIVER"], os.environ["PG_OUT"] = receiver, out
        try:
            g.start(prefix=("unshare", "-m", "--propagation", "private", "sh", "-c", wrap,
                            "sh"))
        finally:
            del os.environ["PG_RECEIVER"], os.environ["PG_OUT"]

    def storm_and_dropped(self, g, metric):
        """3000 rogue attempts from one process: all in events.jsonl, status answers;
        returns the guard's metric of what its output dropped."""
        n = 3000
        r = subprocess.run([sys.executable, "-c", BINDER, str(n), str(ROGUE)],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.stdout.strip(), str(n), r.stderr)

        def counted():
            return sum(e.get("count", 1) for e in g.events("rogue_bind", rotated=True)
                       if e.get("port") == ROGUE)
        wait_for(lambda: counted() == n, 30, "all %d attempts in events.jsonl" % n)
        st = g.cli("status", "--json")
        self.assertIn(st.returncode, (0, 1), st.stderr)
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % METRICS,
                                      timeout=10).read().decode()
        dropped = [int(line.split()[1]) for line in text.splitlines()
                   if line.startswith(metric + " ")]
        self.assertEqual(len(dropped), 1, text[-500:])
        return dropped[0]

    def test_alerts_reach_syslog_in_its_format(self):
        g = self.guard(services="[service:web]\ncommand = @DEMO@ http --port %d --name web\n"
                                "port = %d\n\n" % (BASE + 1, BASE + 1))
        out = os.path.join(g.dir, "syslog.jsonl")
        self.start_with(g, SYSLOG, out, WRAP_SYSLOG)
        w = self.worker()
        w.do(op="open", id="r", port=ROGUE, listen=True)

        def lines():
            try:
                with open(out) as f:
                    return [json.loads(line) for line in f]
            except OSError:
                return []
        got = wait_for(lambda: [x for x in lines() if " rogue_bind {" in x], 10,
                       "the rogue_bind on /dev/log")
        self.assertRegex(got[0], r"^<28>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d portguard\[%d\]: "
                                 r"rogue_bind \{" % g.proc.pid)
        self.assertEqual(json.loads(got[0].split(": rogue_bind ", 1)[1])["pid"], w.pid)
        self.assertFalse([x for x in lines() if "service_start" in x], "not an alert")
        self.assertIn('"type":"rogue_bind"', g.stderr())  # stderr is not the journal here

    def test_a_syslog_that_stopped_reading_never_stops_the_guard(self):
        g = self.guard(guard_extra="coalesce_window = 0\nmetrics_listen = 127.0.0.1:%d\n"
                       % METRICS)
        self.start_with(g, STUCK, os.path.join(g.dir, "syslog.jsonl"), WRAP_SYSLOG)
        self.assertGreater(self.storm_and_dropped(g, "portguard_syslog_dropped_total"), 0)

    def test_a_stderr_nobody_reads_never_stops_the_guard(self):
        """stderr a pipe whose reader has stopped reading (a hung logger): the
        lines it has no room for are dropped and counted, never waited for."""
        g = self.guard(guard_extra="coalesce_window = 0\nmetrics_listen = 127.0.0.1:%d\n"
                       % METRICS)
        fifo = os.path.join(g.dir, "stderr.fifo")
        os.mkfifo(fifo)
        rd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # held, never read
        self.addCleanup(os.close, rd)
        os.environ["PG_FIFO"] = fifo
        try:
            g.start(prefix=("sh", "-c", 'unset JOURNAL_STREAM; exec "$@" 2>"$PG_FIFO"', "sh"))
        finally:
            del os.environ["PG_FIFO"]
        self.assertGreater(self.storm_and_dropped(g, "portguard_stderr_dropped_total"), 0)

    def test_a_journald_that_stopped_reading_never_stops_the_guard(self):
        """Its queue full (net.unix.max_dgram_qlen, 10 to 512 datagrams), every
        further event is dropped there and counted, never waited for: the guard
        answers, and events.jsonl has every attempt (a blocking send, as
        libsystemd's sd_journal_sendv does, stopped the guard here)."""
        g = self.guard(guard_extra="coalesce_window = 0\nmetrics_listen = 127.0.0.1:%d\n"
                       % METRICS)
        self.start_with(g, STUCK, os.path.join(g.dir, "journal.jsonl"))
        self.assertGreater(self.storm_and_dropped(g, "portguard_journald_dropped_total"), 0)

    def test_events_reach_the_journal_once_with_their_fields(self):
        g = self.guard(services="[service:web]\ncommand = @DEMO@ http --port %d --name web\n"
                                "port = %d\n\n" % (BASE + 1, BASE + 1))
        out = os.path.join(g.dir, "journal.jsonl")
        self.start_with(g, RECEIVER, out)
        w = self.worker()
        w.do(op="open", id="r", port=ROGUE, listen=True)  # observe mode: a rogue_bind

        def entries():
            try:
                with open(out) as f:
                    return [json.loads(line) for line in f]
            except OSError:
                return []
        rogue = wait_for(lambda: [e for e in entries() if e.get("PORTGUARD_TYPE") == "rogue_bind"],
                         10, "the rogue_bind in the journal")
        e = rogue[0]
        self.assertEqual(e["PORTGUARD_PORT"], str(ROGUE))
        self.assertEqual(e["PORTGUARD_PID"], str(w.pid))
        self.assertEqual(e["PRIORITY"], "4")  # LOG_WARNING: an alert
        self.assertEqual(e["SYSLOG_IDENTIFIER"], "portguard")
        self.assertRegex(e["MESSAGE_ID"], r"^[0-9a-f]{32}$")
        self.assertEqual(json.loads(e["PORTGUARD_JSON"])["type"], "rogue_bind")
        self.assertTrue(e["MESSAGE"].startswith("rogue_bind"), e["MESSAGE"])
        started = [x for x in entries() if x.get("PORTGUARD_TYPE") == "service_start"]
        self.assertEqual(started[0]["PORTGUARD_SERVICE"], "web")
        self.assertEqual(started[0]["PRIORITY"], "6")
        self.assertNotEqual(started[0]["MESSAGE_ID"], e["MESSAGE_ID"])  # one id per type
        # once: not again as a JSON line on stderr (the journal's other door)
        self.assertNotIn('"type":"rogue_bind"', g.stderr())
        self.assertEqual(len(rogue), 1)
        # and the journal file of the guard's own still has it
        self.assertTrue(g.events("rogue_bind"))
