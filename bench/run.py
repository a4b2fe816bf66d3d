"""Run every benchmark (bench/bench_*.py) and print their result lines as one table.

Run: python bench/run.py [name ...]   (names filter, e.g. ``tune``)
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(p for p in HERE.glob("bench_*.py")
                     if not argv or any(a in p.stem for a in argv))
    rows: list[tuple[str, str, float]] = []
    failed = 0
    for script in scripts:
        start = time.monotonic()
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                              cwd=HERE, check=False)
        elapsed = time.monotonic() - start
        sys.stdout.write(proc.stdout)
        results = [line.split(":", 1)[1].strip() for line in proc.stdout.splitlines()
                   if line.startswith("RESULT ")]
        if proc.returncode != 0 or not results:
            failed += 1
            tail = proc.stderr.strip().splitlines()[-3:]
            results = [f"FAILED (exit {proc.returncode}): {' | '.join(tail)}"]
        for result in results:
            rows.append((script.stem, result, elapsed))
    width = max((len(name) for name, _, _ in rows), default=5)
    print("\nbenchmark".ljust(width + 1), " time   result")
    for name, result, elapsed in rows:
        print(f"{name.ljust(width)}  {elapsed:4.0f}s  {result}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
