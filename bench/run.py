"""Run every benchmark under bench/ and print one table of their ratios.

The table is also written to bench/results/report.md. Each benchmark is a script that prints, as its last lines, result rows of the form
``RESULT <name> | <ours> | <baseline> | <ratio> | <note>``. This runner executes them
one after another (they measure time, so never in parallel) and collects the rows.

    python bench/run.py              # all benchmarks
    python bench/run.py tune_latency # only those whose file name contains the word
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def main(argv: list[str]) -> int:
    scripts = sorted(p for p in HERE.glob("*.py")
                     if p.name not in ("run.py", "common.py", "chaos.py") and not p.name.startswith("_"))
    if argv:
        scripts = [p for p in scripts if any(word in p.stem for word in argv)]
    rows: list[list[str]] = []
    failed = []
    for script in scripts:
        started = time.monotonic()
        print(f"== {script.name}", flush=True)
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                              check=False)
        sys.stdout.write(proc.stdout)
        if proc.returncode != 0:
            failed.append(script.name)
            sys.stdout.write(proc.stderr[-2000:])
        for line in proc.stdout.splitlines():
            if line.startswith("RESULT "):
                text = line[7:]
                if "|" in text:
                    rows.append([cell.strip() for cell in text.split("|")])
                else:  # "RESULT name: summary"
                    name, _, rest = text.partition(":")
                    rows.append([name.strip(), rest.strip(), "", "", ""])
        print(f"   ({time.monotonic() - started:.0f}s)")
    header = ["benchmark", "ours", "baseline", "ratio", "note"]
    widths = [max(len(str(r[i])) if i < len(r) else 0 for r in [header, *rows]) for i in range(5)]
    report = HERE / "results" / "report.md"
    report.parent.mkdir(exist_ok=True)
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join((row + [""] * 5)[:5]) + " |" for row in rows]
    machine = (f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at the end, "
               f"Python {platform.python_version()}, {platform.system()} {platform.release()}")
    report.write_text(f"# Benchmark report ({time.strftime('%Y-%m-%d %H:%M')})\n\n"
                      f"{machine}. Ratio = ours / baseline, both measured in the same run: "
                      "below 1 means less time than the baseline; for a share delivered, "
                      "1.00 means the same as the baseline.\n\n"
                      + "\n".join(lines) + "\n")
    print(f"\nwritten to {report}")
    print()
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        row = (row + [""] * 5)[:5]
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
