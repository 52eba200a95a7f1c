"""Fleet deploy with examples/ansible/deploy.yml on 3 local hosts: how long the whole playbook
takes, and how long the fleet serves mixed releases (first host's switch to last host's switch,
from the hosts' history timestamps), for serial=1 vs serial=3. Prints medians and ratios.

    .venv/bin/python bench/fleet.py [runs]      (default: $BENCH_RUNS, else 3)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOSTS = ("web1", "web2", "web3")


def setup(base: Path) -> Path:
    releases = base / "releases"
    releases.write_text(
        f'#!/bin/sh\nPYTHONPATH="{REPO}" exec "{sys.executable}" -m releases_cli "$@"\n'
    )
    releases.chmod(0o755)
    app = base / "app"
    app.mkdir()
    (app / "index.html").write_text("hello\n")
    lines = ["[app]"]
    for host in HOSTS:
        (base / host).mkdir()
        lines.append(f"{host} releases_root={base / host}")
    lines += [
        "[app:vars]",
        "ansible_connection=local",
        f"ansible_python_interpreter={sys.executable}",
        f"releases_bin={releases}",
        f"releases_source={app}",
    ]
    inventory = base / "inventory.ini"
    inventory.write_text("\n".join(lines) + "\n")
    return inventory


def last_switch(root: Path, release_id: str) -> datetime:
    for line in reversed((root / ".releases" / "history.jsonl").read_text().splitlines()):
        event = json.loads(line)
        if event["event"] == "switch" and event["id"] == release_id:
            return datetime.fromisoformat(event["ts"].replace("Z", "+00:00"))
    raise SystemExit(f"no switch to {release_id} in {root}")


def run(base: Path, inventory: Path, serial: int, n: int) -> tuple[float, float]:
    release_id = f"20300101T0000{n:02d}Z"  # ids must increase on every host
    env = {
        **os.environ,
        "LC_ALL": "C.UTF-8",
        "ANSIBLE_HOME": str(base / ".ansible"),
        "ANSIBLE_PIPELINING": "1",
        "ANSIBLE_NOCOLOR": "1",
    }
    started = time.monotonic()
    subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(inventory),
            "-e",
            json.dumps({"release_id": release_id, "releases_serial": serial}),
            str(REPO / "examples" / "ansible" / "deploy.yml"),
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    total = time.monotonic() - started
    switches = [last_switch(base / host, release_id) for host in HOSTS]
    return total, (max(switches) - min(switches)).total_seconds()


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("BENCH_RUNS", "3"))
    results: dict[int, list[tuple[float, float]]] = {1: [], 3: []}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        inventory = setup(base)
        for n in range(runs):  # interleaved, so load changes hit both settings alike
            for k, serial in enumerate((1, 3)):
                results[serial].append(run(base, inventory, serial, 2 * n + k))
    for serial, rows in results.items():
        total = statistics.median(r[0] for r in rows)
        window = statistics.median(r[1] for r in rows)
        print(f"serial={serial}: playbook {total:.1f}s, mixed-release window {window:.2f}s")
    ratio = statistics.median(r[1] for r in results[1]) / max(
        statistics.median(r[1] for r in results[3]), 1e-3
    )
    print(f"mixed window serial=1 / serial=3: {ratio:.1f}x ({runs} runs each, medians)")


if __name__ == "__main__":
    main()
