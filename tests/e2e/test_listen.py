"""End-to-end tests of listen tracking (issue 8): a listener is listening
until that socket itself leaves LISTEN, whatever its accepted connections
(the kernel's clones of the listener), its children or a backlog overflow
do. Real clients, many at once, against owned and rogue listeners."""
import errno
import json
import socket
import threading

from pgtest import BASE, GuardTest, ss_claims, wait_for

WEB = BASE + 0
ROGUE = BASE + 30   # guarded, owned by nobody
FULL = BASE + 31    # guarded, owned by nobody: a listener that never accepts
SIB = BASE + 32     # guarded, owned by nobody: reuseport siblings


def http(name, port):
    return ("[service:%s]\ncommand = @DEMO@ http --port %d --name %s\nport = %d\n"
            "health = /health\nstop_timeout = 1s\nstart_timeout = 5s\npriority = 10\n\n"
            % (name, port, name, port))


def get_health(port, results, i):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /health HTTP/1.0\r\n\r\n")
            data = b""
            while True:
                b = s.recv(4096)
                if not b:
                    break
                data += b
        results[i] = b" 200 " in data
    except OSError:
        results[i] = False


def clients(port, n):
    """n concurrent HTTP clients; returns how many got 200."""
    results = [False] * n
    threads = [threading.Thread(target=get_health, args=(port, results, i)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return sum(results)


def ports_of(st):
    return {p["port"]: p for p in st["ports"]}


class ListenTest(GuardTest):
    def guard_with_web(self, mode="observe"):
        g = self.guard(services=http("web", WEB))
        if mode != "observe":
            with open(g.conf) as f:
                text = f.read().replace("mode = observe", "mode = " + mode)
            with open(g.conf, "w") as f:
                f.write(text)
        g.start()
        wait_for(lambda: g.service("web")["listening"], 10, "web listening")
        return g

    def assert_owned_listening(self, g, healthy=True):
        st = g.status()
        web = [s for s in st["services"] if s["name"] == "web"][0]
        self.assertTrue(web["listening"], "web is still listening: %s" % json.dumps(web))
        self.assertEqual(ports_of(st)[WEB]["state"], "owned", json.dumps(ports_of(st)[WEB]))
        if healthy:  # status exits 1 while a rogue holds a guarded port
            self.assertEqual(g.cli("status").returncode, 0)

    def test_owner_stays_listening_through_many_concurrent_clients(self):
        g = self.guard_with_web()
        for _ in range(3):
            self.assertEqual(clients(WEB, 40), 40)
        self.assert_owned_listening(g)
        self.assertFalse([e for e in g.events() if e["type"] == "unlisten" and
                          e["port"] == WEB], "no unlisten while the listener lives")
        # Restart verification sees the port owned (it failed here on 6.1).
        r = g.cli("restart", "--json")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        wait_for(lambda: g.service("web")["listening"], 10, "web listening after restart")
        self.assertEqual(clients(WEB, 20), 20)
        self.assert_owned_listening(g)

    def test_owner_stays_listening_in_enforce_mode(self):
        g = self.guard_with_web(mode="enforce")
        self.assertEqual(clients(WEB, 50), 50)
        self.assert_owned_listening(g)
        r = g.cli("restart", "quick", "--json")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(clients(WEB, 10), 10)
        self.assert_owned_listening(g)

    def test_rogue_listener_with_accepted_clients_stays_rogue_until_it_closes(self):
        g = self.guard_with_web()
        w = self.worker()
        self.assertTrue(w.do(op="open", id="l", port=ROGUE, listen=True, reuseaddr=True)["ok"])
        for i in range(20):
            self.assertTrue(w.do(op="connect", id="c%d" % i, port=ROGUE)["ok"])
            self.assertTrue(w.do(op="accept", id="l", **{"as": "a%d" % i})["ok"])
        for i in range(0, 20, 2):  # close half of the connections, from either end
            w.do(op="close", id="a%d" % i)
            w.do(op="close", id="c%d" % (i + 1))
        wait_for(lambda: ports_of(g.status())[ROGUE]["state"] == "rogue", 10, "the rogue seen")
        st = g.status()
        self.assertEqual(ports_of(st)[ROGUE]["state"], "rogue")
        self.assertEqual([h["pid"] for h in ports_of(st)[ROGUE]["holders"]], [w.pid])
        self.assertFalse([e for e in g.events() if e["type"] == "unlisten" and
                          e["port"] == ROGUE])
        claims = [c for c in st["claims"] if c["port"] == ROGUE and c["host"]]
        self.assertEqual(len(claims), 1, "one claim: the listener, not its connections")
        self.assertEqual(set(ss_claims({ROGUE})), {claims[0]["cookie"]})
        # Closing the accepted sockets leaves the listener listening...
        for i in range(20):
            w.do(op="close", id="a%d" % i) if i % 2 else w.do(op="close", id="c%d" % i)
        self.assertEqual(ports_of(g.status())[ROGUE]["state"], "rogue")
        # ...and closing the listener itself ends it (the kernel reports the
        # release before the listener's LISTEN -> CLOSE).
        w.do(op="close", id="l")
        wait_for(lambda: ports_of(g.status())[ROGUE]["state"] == "free", 10, "the port free")
        types = [e["type"] for e in g.events() if e.get("port") == ROGUE and
                 e.get("cookie") == claims[0]["cookie"]]
        self.assertIn("release", types)
        self.assertEqual(g.cli("status").returncode, 0)

    def test_backlog_overflow_keeps_the_listener(self):
        g = self.guard_with_web()
        w = self.worker()
        self.assertTrue(w.do(op="open", id="l", port=FULL, listen=True, reuseaddr=True)["ok"])  # backlog 16
        socks = []
        for _ in range(64):  # more than the backlog: the kernel drops the rest's SYNs
            s = socket.socket()
            s.setblocking(False)
            err = s.connect_ex(("127.0.0.1", FULL))
            self.assertIn(err, (0, errno.EINPROGRESS, errno.EAGAIN))
            socks.append(s)
        try:
            wait_for(lambda: ports_of(g.status())[FULL]["state"] == "rogue", 10, "FULL rogue")
            self.assertEqual(clients(WEB, 20), 20)
            st = g.status()
            self.assertEqual(ports_of(st)[FULL]["state"], "rogue")
            self.assertFalse([e for e in g.events() if e["type"] == "unlisten"])
            self.assert_owned_listening(g, healthy=False)
        finally:
            for s in socks:
                s.close()
        w.do(op="close", id="l")
        wait_for(lambda: ports_of(g.status())[FULL]["state"] == "free", 10, "FULL free")

    def test_forked_child_and_reuseport_sibling_do_not_end_the_listener(self):
        g = self.guard_with_web()
        w = self.worker()
        self.assertTrue(w.do(op="open", id="l", port=SIB, listen=True, reuseport=True, reuseaddr=True)["ok"])
        self.assertTrue(w.do(op="open", id="m", port=SIB, listen=True, reuseport=True, reuseaddr=True)["ok"])
        self.assertTrue(w.do(op="fork")["ok"])
        w.do(op="killchildren")  # the child's copies of the fds close
        for i in range(5):
            self.assertTrue(w.do(op="connect", id="c%d" % i, port=SIB)["ok"])
        w.do(op="close", id="m")  # one sibling closes; the other still listens
        wait_for(lambda: len([c for c in g.status()["claims"] if c["port"] == SIB and
                              c["holding"]]) == 1, 10, "one listener left")
        self.assertEqual(ports_of(g.status())[SIB]["state"], "rogue")
        self.assertEqual(len(ss_claims({SIB})), 1)
        w.do(op="close", id="l")
        wait_for(lambda: ports_of(g.status())[SIB]["state"] == "free", 10, "SIB free")
