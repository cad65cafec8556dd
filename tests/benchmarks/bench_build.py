"""Benchmark: deckgen builds of a synthetic bank against the obvious pipeline.

Usage: python tests/benchmarks/bench_build.py [--cards 1000,10000] [--runs 3]

For each size it prints medians over --runs runs, each command a fresh process: the
cold build (empty cache), the rebuild with no change (3 a run), the rebuild after one
card is edited (5 a run, each a new edit), peak RSS, package sizes, and the obvious
pipeline (obvious.py) on the same cards with the ratio. `python -c pass` is timed too:
the floor any command pays on this machine.
deckgen's modules are byte-compiled first, as `pip install` does, so that runs under
PYTHONDONTWRITEBYTECODE do not compile them again every time.
Not a test: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from synthetic import write_bank

HERE = Path(__file__).parent
PYTHON = sys.executable
EDITS = 5  # one-card edits timed per run: short steps are the noisiest on a shared machine


def run(*args: str | Path, cwd: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (MiB, largest process of the tree) of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen([str(a) for a in args], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{args} failed: {proc.stderr.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss // 1024


def edit_one_card(cards: Path, n: int) -> None:
    topic = cards / "topic-3.yaml"
    text = topic.read_text(encoding="utf-8")
    topic.write_text(text.replace("    front: |\n", f"    front: |\n      edit {n}\n", 1),
                     encoding="utf-8")


def median(values: list[float]) -> float:
    return statistics.median(values)


def bench(size: int, runs: int, root: Path) -> dict:
    cards = write_bank(root / f"bank-{size}", size)
    deckgen = [PYTHON, "-m", "deckgen", "build", "--cards", cards, "--out"]
    cold, cold_rss, nochange, nochange_rss, edit, edit_rss, obvious, obvious_rss = (
        [] for _ in range(8))
    checks, diffs = [], []
    for n in range(runs):
        out = root / f"out-{size}-{n}"
        (cards / "deckgen-state.json").unlink(missing_ok=True)
        t, rss = run(*deckgen, out, cwd=root)
        cold.append(t), cold_rss.append(rss)
        for _ in range(3):
            t, rss = run(*deckgen, out, cwd=root)
            nochange.append(t), nochange_rss.append(rss)
        for e in range(EDITS):
            edit_one_card(cards, n * EDITS + e)
            t, rss = run(*deckgen, out, cwd=root)
            edit.append(t), edit_rss.append(rss)
        for _ in range(3):  # nothing changed since the last build
            checks.append(run(PYTHON, "-m", "deckgen", "check", "--cards", cards, "--out", out,
                              cwd=root)[0])
            diffs.append(run(PYTHON, "-m", "deckgen", "diff", "--cards", cards, "--out", out,
                             cwd=root)[0])
        t, rss = run(PYTHON, HERE / "obvious.py", cards, root / f"obvious-{size}-{n}", cwd=root)
        obvious.append(t), obvious_rss.append(rss)
    sizes = {p.name: p.stat().st_size for p in out.glob("*.apkg")}
    obvious_all = (root / f"obvious-{size}-0" / "all.apkg").stat().st_size
    return {"cold": median(cold), "nochange": median(nochange), "edit": median(edit),
            "check": median(checks), "diff": median(diffs),
            "obvious": median(obvious), "rss": max(cold_rss + nochange_rss + edit_rss),
            "obvious_rss": max(obvious_rss), "all_mb": sizes["all.apkg"] / 2**20,
            "topics_mb": sum(v for k, v in sizes.items() if k != "all.apkg") / 2**20,
            "obvious_all_mb": obvious_all / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", default="1000,10000", help="bank sizes, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    import deckgen

    compileall.compile_dir(Path(deckgen.__file__).parent, quiet=1)
    floor = median([run(PYTHON, "-c", "pass", cwd=Path.cwd())[0] for _ in range(5)])
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python"
          f" {platform.python_version()}; `python -c pass` {floor:.3f} s;"
          f" medians of {args.runs} runs")
    print(f"{'cards':>6} {'cold s':>7} {'obvious s':>9} {'ratio':>6} {'no-change s':>11}"
          f" {'one edit s':>10} {'check s':>7} {'diff s':>6} {'peak MiB':>8}"
          f" {'obvious MiB':>11} {'all.apkg MiB':>12}"
          f" {'obvious all MiB':>15}")
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for size in (int(s) for s in args.cards.split(",")):
            r = results[size] = bench(size, args.runs, Path(scratch))
            print(f"{size:>6} {r['cold']:>7.2f} {r['obvious']:>9.2f}"
                  f" {r['cold'] / r['obvious']:>6.2f}"
                  f" {r['nochange']:>11.3f} {r['edit']:>10.3f} {r['check']:>7.3f}"
                  f" {r['diff']:>6.3f} {r['rss']:>8} {r['obvious_rss']:>11}"
                  f" {r['all_mb']:>12.1f} {r['obvious_all_mb']:>15.1f}", flush=True)
    if 10_000 in results:
        print(check_targets(results[10_000]), end="")


# The targets at 10,000 cards, in seconds; the cold build is compared with the obvious
# pipeline timed in the same run, on the same machine.
TIME_TARGETS = {"no-change": ("nochange", 0.2), "one edit": ("edit", 0.6),
                "check": ("check", 0.3), "diff": ("diff", 0.3)}


def check_targets(r: dict) -> str:
    lines = ["targets at 10,000 cards:"]
    for name, (key, limit) in TIME_TARGETS.items():
        lines.append(f"  {name} <= {limit} s: {r[key]:.3f} s {verdict(r[key] <= limit)}")
    lines.append(f"  cold <= 0.5x obvious: {r['cold'] / r['obvious']:.2f}x"
                 f" {verdict(r['cold'] <= 0.5 * r['obvious'])}")
    lines.append(f"  peak RSS <= 150 MiB: {r['rss']} MiB {verdict(r['rss'] <= 150)}")
    return "\n".join(lines) + "\n"


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


if __name__ == "__main__":
    main()
