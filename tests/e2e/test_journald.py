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

# The stand-in journald: each datagram's fields, one JSON object per line.
RECEIVER = r"""
import json, os, socket, struct, sys
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
open(out + ".ready", "w").close()
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

# A journald that has stopped reading: its socket is bound, never read from.
STUCK = r"""
import os, socket, sys, time
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
open(out + ".ready", "w").close()
time.sleep(3600)
"""

# One process: socket(), bind(), close() n times on a port; prints n.
BINDER = ("import socket, sys\n"
          "n, port = int(sys.argv[1]), int(sys.argv[2])\n"
          "for i in range(n):\n"
          "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
          "    s.bind(('127.0.0.1', port)); s.close()\n"
          "print(n, flush=True)\n")

# In the private namespace: /run a tmpfs, the stand-in journald, JOURNAL_STREAM, the guard.
WRAP = ('mount -t tmpfs none /run && mkdir -p /run/systemd/journal && '
        'setpriv --pdeathsig KILL %s -c "$PG_RECEIVER" /run/systemd/journal/socket "$PG_OUT" & '
        'while [ ! -e "$PG_OUT.ready" ]; do sleep 0.01; done; '
        'JOURNAL_STREAM=$(stat -L -c "%%d:%%i" /proc/$$/fd/2) exec "$@"' % sys.executable)


class JournaldTest(GuardTest):
    def start_with(self, g, receiver, out):
        os.environ["PG_RECEIVER"], os.environ["PG_OUT"] = receiver, out
        try:
            g.start(prefix=("unshare", "-m", "--propagation", "private", "sh", "-c", WRAP,
                            "sh"))
        finally:
            del os.environ["PG_RECEIVER"], os.environ["PG_OUT"]

    def test_a_journald_that_stopped_reading_never_stops_the_guard(self):
        """Its queue full (net.unix.max_dgram_qlen, 10 to 512 datagrams), every
        further event is dropped there and counted, never waited for: the guard
        answers, and events.jsonl has every attempt (a blocking send, as
        libsystemd's sd_journal_sendv does, stopped the guard here)."""
        metrics = BASE + 96
        g = self.guard(guard_extra="coalesce_window = 0\nmetrics_listen = 127.0.0.1:%d\n"
                       % metrics)
        self.start_with(g, STUCK, os.path.join(g.dir, "journal.jsonl"))
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
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % metrics,
                                      timeout=10).read().decode()
        dropped = [int(line.split()[1]) for line in text.splitlines()
                   if line.startswith("portguard_journald_dropped_total ")]
        self.assertEqual(len(dropped), 1, text[-500:])
        self.assertGreater(dropped[0], 0)

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
