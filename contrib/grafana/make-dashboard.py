#!/usr/bin/env python3
"""Writes contrib/grafana/portguard.json, the Grafana dashboard (run it after
editing; `make test` checks the JSON it wrote, tests/grafana-check)."""
import json
import os

DS = {"type": "prometheus", "uid": "${datasource}"}


def target(expr, legend="", ref="A", instant=False):
    t = {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref}
    if instant:
        t.update({"instant": True, "range": False, "format": "table"})
    return t


def panel(pid, kind, title, x, y, w, h, targets, desc, **extra):
    p = {"id": pid, "type": kind, "title": title, "description": desc, "datasource": DS,
         "gridPos": {"x": x, "y": y, "w": w, "h": h}, "targets": targets,
         "fieldConfig": {"defaults": {}, "overrides": []}, "options": {}}
    p.update(extra)
    return p


def row(pid, title, y):
    return {"id": pid, "type": "row", "title": title, "collapsed": False,
            "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "panels": []}


INST = 'instance=~"$instance"'
panels = [
    row(1, "Fleet", 0),
    panel(2, "stat", "Hosts guarded", 0, 1, 6, 4,
          [target("count(portguard_build_info)")], "Guards reporting metrics now."),
    panel(3, "stat", "Rogue binds (range)", 6, 1, 6, 4,
          [target("sum(increase(portguard_rogue_binds_total[$__range]))")],
          "Binds or listens by strangers on guarded ports, all hosts."),
    panel(4, "stat", "Denials (range)", 12, 1, 6, 4,
          [target("sum(increase(portguard_denials_total[$__range]))")],
          "Binds the kernel denied on guarded ports, all hosts."),
    panel(5, "stat", "Services down", 18, 1, 6, 4,
          [target("count(portguard_service_up == 0) or vector(0)")],
          "Services not RUNNING, all hosts."),
    panel(6, "timeseries", "Rogue binds and denials by host", 0, 5, 24, 8,
          [target("sum by (instance) (rate(portguard_rogue_binds_total[5m]))", "{{instance}} rogue"),
           target("sum by (instance) (rate(portguard_denials_total[5m]))", "{{instance}} denied",
                  "B")], "Per second, 5 minute rate."),
    row(7, "Host $instance", 13),
    panel(8, "table", "Services", 0, 14, 12, 8,
          [target("portguard_service_state{%s} == 1" % INST, "", "A", True)],
          "Each service's state (portguard_service_state)."),
    panel(9, "timeseries", "Ports: rogue binds and denials", 12, 14, 12, 8,
          [target("sum by (port) (increase(portguard_rogue_binds_total{%s}[5m]))" % INST,
                  "{{port}} rogue"),
           target("sum by (port) (increase(portguard_denials_total{%s}[5m]))" % INST,
                  "{{port}} denied", "B")], "By guarded port, per 5 minutes."),
    panel(10, "timeseries", "Services up", 0, 22, 12, 8,
          [target("portguard_service_up{%s}" % INST, "{{service}}")], "1 when RUNNING."),
    panel(11, "timeseries", "Kernel events and losses", 12, 22, 12, 8,
          [target("sum by (kind) (rate(portguard_events_total{%s}[5m]))" % INST, "{{kind}}"),
           target("sum(increase(portguard_events_lost_total{%s}[5m]))" % INST, "lost", "B")],
          "Events per second by kind; events lost per 5 minutes."),
    row(12, "Restarts", 30),
    panel(13, "timeseries", "Restart jobs", 0, 31, 12, 8,
          [target("sum by (result) (increase(portguard_restarts_total{%s}[5m]))" % INST,
                  "{{result}}")], "restart, stop, start and reclaim jobs, by result."),
    panel(14, "timeseries", "Automatic restarts and reclaims", 12, 31, 12, 8,
          [target("increase(portguard_service_restarts_total{%s}[15m])" % INST,
                  "{{service}} restarts"),
           target("increase(portguard_reclaims_total{%s}[15m])" % INST, "{{service}} reclaims",
                  "B"),
           target("increase(portguard_reclaim_backoffs_total{%s}[15m])" % INST,
                  "{{service}} backoffs", "C")], "Per 15 minutes, by service."),
]

dash = {
    "uid": "portguard", "title": "portguard", "tags": ["portguard"], "editable": True,
    "schemaVersion": 39, "version": 1, "time": {"from": "now-6h", "to": "now"},
    "refresh": "30s", "timezone": "", "graphTooltip": 1, "links": [], "annotations": {"list": []},
    "templating": {"list": [
        {"name": "datasource", "label": "Prometheus", "type": "datasource",
         "query": "prometheus", "current": {}, "hide": 0, "refresh": 1},
        {"name": "instance", "label": "Host", "type": "query", "datasource": DS,
         "query": {"query": "label_values(portguard_build_info, instance)", "refId": "I"},
         "definition": "label_values(portguard_build_info, instance)", "refresh": 2,
         "current": {}, "includeAll": False, "multi": False, "hide": 0, "sort": 1},
    ]},
    "panels": panels,
}

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "portguard.json"), "w") as f:
    json.dump(dash, f, indent=2)
    f.write("\n")
