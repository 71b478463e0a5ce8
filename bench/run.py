"""make bench: every benchmark, each beside its baseline measured in the same
run. Prints one table and writes it, with the date and the machine, at the
top of docs/benchmarks.md (earlier results stay below)."""
import datetime
import os
import platform
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import restart  # noqa: E402
import servers  # noqa: E402
import suite  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "benchmarks.md")
HEADER = ("# Benchmarks\n\nWritten by `make bench` (bench/run.py); the newest run first. "
          "Medians of repeated runs, each beside its baseline measured in the same run, "
          "on a shared, noisy machine: compare ratios, not absolute numbers.\n")


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "?"
    return "%d cores (%s), Linux %s, commit %s" % (os.cpu_count(), cpu, platform.release(),
                                                   commit)


def main():
    if os.geteuid() != 0:
        print("bench: run as root (real BPF, cgroups, services)", file=sys.stderr)
        return 1
    rows = []
    rows += restart.run()
    rows += servers.run()
    rows += suite.run()
    head = ("what", "portguard", "baseline (same run)", "ratio")
    table = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    table += ["| " + " | ".join(r) + " |" for r in rows]
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    section = "\n## %s\n\n%s\n\n%s\n" % (when, machine(), "\n".join(table))
    print(section)
    failed = [r[0] for r in rows if r[1].startswith("FAILED")]
    if failed:
        print("bench: failed: %s; %s left as it was" % (", ".join(failed), DOC),
              file=sys.stderr)
        return 1
    old = ""
    if os.path.exists(DOC):
        with open(DOC) as f:
            old = f.read()
        old = old[len(HEADER):] if old.startswith(HEADER) else old
    with open(DOC, "w") as f:
        f.write(HEADER + section + old)
    return 0


if __name__ == "__main__":
    sys.exit(main())
