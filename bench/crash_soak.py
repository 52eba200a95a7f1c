"""Crash soak: SIGKILL real `releases deploy / rollback / prune` processes at random moments
and check, after every kill, that nothing was lost.

    python bench/crash_soak.py [ROUNDS] [SEED]

After each kill: `current` resolves to a complete release; every release that was complete
before still exists with identical content, unless the history has a `prune` event naming it
(prune writes that record before deleting). Every few rounds an unkilled command must succeed.
Prints the counts docs/reliability.md quotes.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run(root: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "releases_cli", *args, "--root", str(root)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def fingerprint(release: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(release.rglob("*")):
        digest.update(str(path.relative_to(release)).encode())
        if path.is_file() and not path.is_symlink():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def complete(root: Path) -> dict[str, str]:
    found = {}
    for meta in (root / ".releases" / "meta").glob("*.json"):
        try:
            body = json.loads(meta.read_text())
        except ValueError:
            continue
        release = root / "releases" / body["id"]
        if body.get("status") == "complete" and release.is_dir():
            found[body["id"]] = fingerprint(release)
    return found


def pruned_ids(root: Path) -> set[str]:
    ids: set[str] = set()
    for line in (root / ".releases" / "history.jsonl").read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "prune":
            ids.update(event["ids"])
    return ids


def current_ok(root: Path) -> bool:
    target = os.readlink(root / "current")
    meta = root / ".releases" / "meta" / f"{target.split('/')[-1]}.json"
    return (
        json.loads(meta.read_text()).get("status") == "complete"
        and (root / "current" / "index.html").is_file()
    )


def command(rng: random.Random, app: Path) -> tuple[str, ...]:
    roll = rng.random()
    if roll < 0.7:
        return ("deploy", "--source", str(app), "--build", "sleep 0.1", "--keep", "4")
    if roll < 0.85:
        return ("rollback",)
    return ("prune", "--keep", "3")


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    base = Path(tempfile.mkdtemp(prefix="crash-soak-"))
    root, app = base / "root", base / "app"
    root.mkdir()
    (app / "lib").mkdir(parents=True)
    (app / "index.html").write_text("v1\n")
    for i in range(300):
        (app / "lib" / f"m{i}.js").write_text(f"module.exports = {i};\n" * 20)
    started = time.monotonic()
    assert run(root, "deploy", "--source", str(app)).wait() == 0
    full = time.monotonic() - started
    stats: Counter[str] = Counter()
    for n in range(rounds):
        before = complete(root)
        args = command(rng, app)
        proc = run(root, *args)
        time.sleep(rng.uniform(0, full * 1.2))
        proc.send_signal(signal.SIGKILL)
        code = proc.wait()
        stats[f"{args[0]} {'killed' if code == -signal.SIGKILL else 'finished first'}"] += 1
        after, pruned = complete(root), pruned_ids(root)
        lost = [i for i in before if i not in after and i not in pruned]
        changed = [i for i in before if i in after and after[i] != before[i]]
        stats["lost releases"] += len(lost)
        stats["altered releases"] += len(changed)
        stats["bad current"] += 0 if current_ok(root) else 1
        if n % 5 == 4:
            check = run(root, "deploy", "--source", str(app), "--keep", "4").wait()
            stats["recovery deploys ok" if check == 0 else "recovery deploys FAILED"] += 1
    print(f"rounds: {rounds}  (full deploy took {full:.2f}s; kills at 0..{full * 1.2:.2f}s)")
    for key in sorted(stats):
        print(f"  {key}: {stats[key]}")
    print(f"root left for inspection: {root}")


if __name__ == "__main__":
    main()
