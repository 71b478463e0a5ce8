"""A real Prometheus (Debian's package; tests/test-deps installs it for `make
test` alone, its own service held off) scraping a test guard's
metrics_listen with the shipped rules (issue 14): a rogue bind makes
PortguardRogueBind fire, seen through Prometheus' HTTP API, and nothing fires
before it; every query of the Grafana dashboard is valid PromQL that this
Prometheus answers with the guard's series."""
import json
import os
import re
import shutil
import subprocess
import urllib.parse
import urllib.request

from pgtest import BASE, GuardTest, wait_for

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
HERE = os.path.dirname(os.path.abspath(__file__))
RULES = os.path.join(HERE, "..", "..", "contrib", "prometheus", "portguard.rules.yml")
DASHBOARD = os.path.join(HERE, "..", "..", "contrib", "grafana", "portguard.json")
METRICS = BASE + 94
PROM = BASE + 93
ROGUE = BASE + 50  # guarded, owned by nobody


class PrometheusTest(GuardTest):
    def api(self, path):
        with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/%s" % (PROM, path),
                                    timeout=5) as r:
            return json.loads(r.read())["data"]

    def alerts(self):
        try:
            return {(a["labels"]["alertname"], a["state"]) for a in self.api("alerts")["alerts"]}
        except OSError:
            return None

    def test_a_rogue_bind_fires_the_alert_in_a_real_prometheus(self):
        if not os.access(PROMETHEUS, os.X_OK):
            self.skipTest("prometheus is not installed (tests/test-deps installs it)")
        g = self.guard(guard_extra="metrics_listen = 127.0.0.1:%d\n" % METRICS,
                       services="[service:web]\ncommand = @DEMO@ http --port %d --name web\n"
                                "port = %d\n\n" % (BASE + 1, BASE + 1)).start()
        conf = os.path.join(g.dir, "prometheus.yml")
        with open(conf, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "rule_files:\n  - %s\n"
                    "scrape_configs:\n  - job_name: portguard\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % (os.path.abspath(RULES), METRICS))
        p = self.popen(PROMETHEUS, "--config.file=" + conf,
                       "--storage.tsdb.path=" + os.path.join(g.dir, "tsdb"),
                       "--web.listen-address=127.0.0.1:%d" % PROM, stdout=subprocess.DEVNULL,
                       stderr=open(os.path.join(g.dir, "prometheus.log"), "w"))
        wait_for(lambda: p.poll() is not None or self.alerts() is not None, 60,
                 "prometheus answering")
        self.assertIsNone(p.poll(), "prometheus exited")
        up = wait_for(lambda: [t for t in self.api("targets")["activeTargets"]
                               if t["health"] == "up"], 30, "the guard scraped")
        self.assertEqual(up[0]["labels"]["job"], "portguard")
        # a few evaluations with the guard quiet: nothing fires, the rogue counter is at 0
        wait_for(lambda: self.api("query?query=portguard_rogue_binds_total")["result"], 30,
                 "the first scrape's series")
        q = self.api("query?query=portguard_rogue_binds_total%%7Bport%%3D%%22%d%%22%%7D" % ROGUE)
        self.assertEqual(q["result"][0]["value"][1], "0")  # exists from the start, at 0
        # (PortguardMetricsMissing is pending until the first scrape: then it clears)
        wait_for(lambda: self.alerts() == set(), 30, "no alert while the guard is quiet")
        w = self.worker()
        w.do(op="open", id="r", port=ROGUE, listen=True)  # observe mode: a rogue, let be
        wait_for(lambda: ("PortguardRogueBind", "firing") in (self.alerts() or set()), 60,
                 "PortguardRogueBind firing")
        fired = {a for a, _ in self.alerts()}
        self.assertEqual(fired, {"PortguardRogueBind"}, fired)
        alert = [a for a in self.api("alerts")["alerts"]
                 if a["labels"]["alertname"] == "PortguardRogueBind"][0]
        self.assertEqual(alert["labels"]["port"], str(ROGUE))
        self.assertIn("portguard events", alert["annotations"]["description"])
        q = "portguard_port_state%%7Bport%%3D%%22%d%%22%%2Cstate%%3D%%22rogue%%22%%7D" % ROGUE
        wait_for(lambda: [r for r in self.api("query?query=" + q)["result"]
                          if r["value"][1] == "1"], 20, "the port's state rogue")

        self.dashboard_queries_answer(g)

    def dashboard_queries_answer(self, g):
        with open(DASHBOARD) as f:
            dash = json.load(f)
        self.assertEqual(dash["uid"], "portguard")
        ids = [p["id"] for p in dash["panels"]]
        self.assertEqual(len(ids), len(set(ids)), "panel ids are unique")
        cells = set()
        for p in dash["panels"]:
            gp = p["gridPos"]
            self.assertLessEqual(gp["x"] + gp["w"], 24, p["title"])
            for x in range(gp["x"], gp["x"] + gp["w"]):
                for y in range(gp["y"], gp["y"] + gp["h"]):
                    self.assertNotIn((x, y), cells, "%s overlaps another panel" % p["title"])
                    cells.add((x, y))
            for t in p.get("targets", []):
                expr = t["expr"].replace("$instance", ".*").replace("$__range", "1h")
                r = self.api("query?query=" + urllib.parse.quote(expr))
                for name in set(re.findall(r"portguard_[a-z_]+", expr)):
                    have = self.api("query?query=" + urllib.parse.quote("count(%s)" % name))
                    self.assertTrue(have["result"], "%s: no series of %s" % (p["title"], name))
                self.assertIn("result", r, expr)
