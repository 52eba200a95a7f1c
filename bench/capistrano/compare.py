"""Benchmark: `releases` against Capistrano 3 on this machine, deploys and rollbacks of the same
git repository, interleaved round by round in one run, through a throwaway sshd on 127.0.0.1.

Variants (each its own deploy root on the same filesystem; keep 5; no build step):
  capistrano    `cap production deploy` / `cap production deploy:rollback` (Capistrano runs
                every step over ssh, here to 127.0.0.1: that is how it always works)
  releases      `releases deploy --repo URL --keep 5` / `releases rollback`, run locally
  ssh releases  the same two commands as `ssh host 'releases ...'` (a fresh connection each)

`releases` is a regular install of this checkout in a throwaway virtualenv, as `pipx install .`
makes it (bench/_installed.py: the editable install of `make install` adds its import hook to
every process start); `--from-checkout` times `python -m releases_cli` from the checkout instead.

The repository is generated (seeded): 1,200 files, 4.8 MB, in 500 directories. First 5 untimed
deploys put every root at `keep`, so from then on every deploy of either tool removes its
oldest release, as production deploys do. Then K deploy rounds: commit a one-file
change (untimed; every deploy ships a new commit, so no `--force` is needed), time the three
deploys, check each root serves that commit. Then K rollback rounds: time the three rollbacks,
check each root serves the commit before, then restore the state untimed (a new commit,
deployed by all three). The order of the variants rotates from round to round. Prints the
medians, the ratios against Capistrano, and the targets of issue 21 (deploy <= 1/5, rollback
<= 1/10 of Capistrano's time, locally). Capistrano's rollback also archives the release it
leaves (tar -czf) and deletes it; `releases rollback` keeps it (a switch back is instant).

Needs Capistrano and openssh-server (installed with apt-get as root where that starts nothing,
see peer.py; `--if-available` reports why not and exits 0 instead of failing). Stops the sshd it
started whatever happens; nothing outside its temporary directory is written.

    python bench/capistrano/compare.py [--runs 7] [--files 1200] [--if-available]
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import platform
import re
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/: _timing, git_deploy

import peer
from _installed import install
from _timing import REPO, Samples, cli_argv, measure, median_ms, run, scratch
from _timing import table as print_table
from git_deploy import git, make_upstream
from sshd import Endpoint, stop_on_sigterm, throwaway_sshd

HERE = Path(__file__).resolve().parent  # the Capistrano project (Capfile, config/)
KEEP = 5
CAPISTRANO, LOCAL, SSH, BASELINE = "capistrano", "releases", "ssh releases", "releases baseline"
VARIANTS = (CAPISTRANO, LOCAL, SSH)
TARGETS = {"deploy": 5, "rollback": 10}  # releases (locally) at most 1/N of Capistrano's time
CHANGED = Path("src/area00/mod000/file00000.ts")
# No PYTHONPATH: an installed `releases` must import its own copy, not the checkout's.
ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RELEASES_ROOT")}
ENV["NO_COLOR"] = "1"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    runs = int(os.environ.get("BENCH_RUNS") or 7)
    parser.add_argument("--runs", type=int, default=runs, help="timed rounds (default 7)")
    parser.add_argument("--files", type=int, default=1200, help="files in the repository")
    parser.add_argument(
        "--if-available",
        action="store_true",
        help="when Capistrano or sshd is missing and cannot be installed: say why, exit 0",
    )
    parser.add_argument("--no-install", action="store_true", help="never run apt-get")
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="CHECKOUT",
        help="also time `releases` from this other checkout (e.g. `git worktree add /tmp/base "
        "main`), locally, interleaved: before/after in one run",
    )
    parser.add_argument(
        "--from-checkout",
        action="store_true",
        help="time `python -m releases_cli` from the checkouts (their development install) "
        "instead of a regular install of each",
    )
    parser.add_argument(
        "--login-rc",
        action="store_true",
        help="let the remote login shell read the user's ~/.bashrc (by default the throwaway "
        "sshd sets SHLVL=1 so bash skips it: a slow rc file would add its cost to every "
        "command both tools run over ssh)",
    )
    return parser.parse_args()


def settle_trash(root: Path) -> None:
    """Wait until no detached cleaner (docs/state.md) is still deleting a release a deploy of
    `root` pruned, so that no command is timed while another one's deletion competes with it
    for the CPU and the disk (what each cleaner took is read from its log)."""
    trash = root / ".releases" / "trash"
    for entry in trash.iterdir() if trash.is_dir() else []:
        with contextlib.suppress(OSError):
            held = os.open(entry, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            try:
                fcntl.flock(held, fcntl.LOCK_SH)  # blocks while a cleaner holds it
            finally:
                os.close(held)


@dataclass(frozen=True)
class Bench:
    """The three deploy roots, the repository they deploy and the server they go through."""

    work: Path
    upstream: Path
    endpoint: Endpoint
    commands: dict[str, list[str]]  # variant -> the argv that runs its `releases`

    @property
    def variants(self) -> tuple[str, ...]:
        return (*VARIANTS, BASELINE) if BASELINE in self.commands else VARIANTS

    def root(self, variant: str) -> Path:
        return self.work / variant.replace(" ", "-")

    def releases(self, variant: str, *args: str) -> None:
        """`releases ARGS --root ROOT`, locally or through ssh (the same install)."""
        argv = [*self.commands[variant], *args, "--root", str(self.root(variant))]
        if variant == SSH:
            run(self.endpoint.ssh_argv(["env", "NO_COLOR=1", *argv]))
        else:
            run(argv, env=ENV)

    def settle(self) -> None:
        """Untimed: wait for every detached cleaner of the releases roots (settle_trash)."""
        for variant in self.variants[1:]:
            settle_trash(self.root(variant))

    def cleaner_seconds(self, variant: str) -> list[float]:
        """What each detached cleaner of `variant` took to delete a pruned release."""
        log = self.root(variant) / ".releases" / "cleaner.log"
        text = log.read_text() if log.exists() else ""
        return [float(s) for s in re.findall(r"deleted trash/\S+ in ([0-9.]+)s", text)]

    def cap(self, *task: str) -> None:
        env = {
            **os.environ,
            "BENCH_REPO_URL": self.upstream.as_uri(),
            "BENCH_CAP_ROOT": str(self.root(CAPISTRANO)),
            "BENCH_CAP_TMP": str(self.work / "cap-tmp"),
            "BENCH_CAP_LOG": str(self.work / "capistrano.log"),
            "BENCH_SSH_PORT": str(self.endpoint.port),
            "BENCH_SSH_USER": self.endpoint.user,
            "BENCH_SSH_KEY": str(self.endpoint.client_key),
            "BENCH_KNOWN_HOSTS": str(self.endpoint.known_hosts),
        }
        run(["cap", "production", *task], env=env, cwd=HERE)

    def action(self, command: str, variant: str) -> Callable[[], None]:
        if variant == CAPISTRANO:
            task = "deploy" if command == "deploy" else "deploy:rollback"
            return lambda: self.cap(task)
        if command == "deploy":
            url = self.upstream.as_uri()
            return lambda: self.releases(variant, "deploy", "--repo", url, "--keep", str(KEEP))
        return lambda: self.releases(variant, "rollback")

    def commit(self, round_number: int) -> str:
        """A one-file change upstream; returns the new commit."""
        (self.upstream / CHANGED).write_text(f"export const round = {round_number};\n")
        git(self.upstream, "commit", "-q", "-am", f"round {round_number}")
        return git(self.upstream, "rev-parse", "HEAD")

    def serves(self, variant: str) -> str:
        """The commit the root's `current` release was made from (both tools write REVISION)."""
        return (self.root(variant) / "current" / "REVISION").read_text().strip()


def timed_round(
    bench: Bench, command: str, round_number: int, samples: Samples, expected: dict[str, str]
) -> None:
    """Time `command` once per variant (order rotated by round), then check what each serves."""
    variants = bench.variants
    shift = round_number % len(variants)
    for variant in [*variants[shift:], *variants[:shift]]:
        bench.settle()
        wall, cpu = measure(bench.action(command, variant))
        samples.add(variant, wall, cpu)
    for variant in variants:
        if bench.serves(variant) != expected[variant]:
            raise SystemExit(f"{variant} {command} did not make the expected commit live")


def deploy_all(bench: Bench, number: int) -> str:
    """Untimed: a new commit, deployed by every variant."""
    sha = bench.commit(number)
    for variant in bench.variants:
        bench.action("deploy", variant)()
    return sha


def _in_order(variants: tuple[str, ...]) -> Samples:
    """Empty samples whose tables list the variants in this order, whatever ran first."""
    return Samples({v: [] for v in variants}, {v: [] for v in variants})


def rounds(bench: Bench, runs: int) -> dict[str, Samples]:
    """Fill every root to keep, then `runs` deploy rounds and `runs` rollback rounds."""
    for number in range(KEEP):
        deploy_all(bench, -1 - number)
    samples = {"deploy": _in_order(bench.variants), "rollback": _in_order(bench.variants)}
    for number in range(runs):
        sha = bench.commit(number)
        timed_round(bench, "deploy", number, samples["deploy"], dict.fromkeys(bench.variants, sha))
    for number in range(runs):
        previous = {variant: bench.serves(variant) for variant in bench.variants}
        deploy_all(bench, runs + number)
        timed_round(bench, "rollback", number, samples["rollback"], previous)
    return samples


def versions() -> str:
    cap = subprocess.run(["cap", "--version"], capture_output=True, text=True, check=False)
    ssh = subprocess.run(["ssh", "-V"], capture_output=True, text=True, check=False)
    return (
        f"{cap.stdout.strip()}; {ssh.stderr.strip().split(',')[0]}; "
        f"python {platform.python_version()}"
    )


def machine() -> str:
    model = "?"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [ln for ln in cpuinfo.read_text().splitlines() if ln.startswith("model name")]
        model = names[0].split(":", 1)[1].strip() if names else model
    return f"{os.cpu_count()} cores ({model}), {platform.system()} {platform.release()}"


def report(samples: dict[str, Samples]) -> None:
    note = (
        "cpu: processes started here only (cap's ruby, the ssh client, local releases); "
        "what sshd runs is not counted"
    )
    for command, values in samples.items():
        print_table(f"{command}, keep {KEEP}", values, [CAPISTRANO], note=note)
    print("\n## against issue 21's targets (releases run locally)")
    for command, values in samples.items():
        cap = median_ms(values.wall[CAPISTRANO])
        parts = []
        for variant in [v for v in values.wall if v != CAPISTRANO]:
            ms = median_ms(values.wall[variant])
            share = f"1/{cap / ms:.1f}" if ms < cap else f"{ms / cap:.2f}x"
            parts.append(f"{variant} {ms / 1000:.2f} s = {share} of it")
        met = "met" if cap / median_ms(values.wall[LOCAL]) >= TARGETS[command] else "not met"
        print(
            f"{command}: capistrano {cap / 1000:.2f} s; {'; '.join(parts)} "
            f"(target <= 1/{TARGETS[command]}: {met})"
        )


def commands(work: Path, baseline: Path | None, from_checkout: bool) -> dict[str, list[str]]:
    """Each variant's `releases`: a regular install of its checkout (or the checkout itself)."""
    checkouts = {LOCAL: REPO, SSH: REPO} | ({BASELINE: baseline} if baseline else {})
    if from_checkout:
        for checkout in set(checkouts.values()):
            compiled(checkout)
        return {
            variant: ["env", f"PYTHONPATH={checkout}", *cli_argv()]
            for variant, checkout in checkouts.items()
        }
    installs = {REPO: install(REPO, work / "install-now")}
    if baseline is not None:
        installs[baseline] = install(baseline, work / "install-baseline")
    return {variant: [str(installs[checkout])] for variant, checkout in checkouts.items()}


def compiled(checkout: Path) -> None:
    """Compile the checkout's bytecode first, as an install does: with PYTHONDONTWRITEBYTECODE
    set (or a read-only tree) every run would otherwise compile every module it imports."""
    run([sys.executable, "-m", "compileall", "-q", str(checkout / "releases_cli")])


def main() -> int:
    args = arguments()
    why_not = peer.ensure(install=not args.no_install)
    if why_not is not None and args.if_available:
        print(f"capistrano benchmark skipped: {why_not}")
        return 0
    if why_not is not None:
        print(f"capistrano benchmark cannot run: {why_not}", file=sys.stderr)
        return 3
    with stop_on_sigterm(), scratch("capistrano") as work:
        argvs = commands(work, args.baseline, args.from_checkout)
        upstream = work / "upstream"
        make_upstream(upstream, args.files, largest=7_650)  # 4.8 MB for 1,200 files
        size = sum(p.stat().st_size for p in (upstream / "src").rglob("*") if p.is_file())
        print(f"repository: {args.files} files, {size / 1e6:.1f} MB; keep {KEEP}; no build")
        print(f"machine: {machine()}; {versions()}")
        how = "python -m releases_cli from" if args.from_checkout else "a regular install of"
        baseline = f" (baseline: {args.baseline})" if args.baseline else ""
        print(f"releases: {how} {REPO}{baseline}")
        with throwaway_sshd(work / "ssh", login_rc=args.login_rc) as endpoint:
            print(
                f"sshd pid {endpoint.pid} on 127.0.0.1:{endpoint.port}; files in {work}", flush=True
            )
            bench = Bench(work, upstream, endpoint, argvs)
            for variant in bench.variants[1:]:
                bench.root(variant).mkdir()
            samples = rounds(bench, args.runs)
            cleaned = {variant: bench.cleaner_seconds(variant) for variant in bench.variants[1:]}
    report(samples)
    print(
        "\n## deletion of the pruned release, by the detached cleaner (after the deploy returned)"
    )
    for variant, seconds in cleaned.items():
        if not seconds:
            print(f"{variant}: no detached cleaner (deleted within the command)")
            continue
        median = statistics.median(seconds)
        print(f"{variant}: median {median:.2f} s over {len(seconds)} deletions (cleaner.log)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: everything started is stopped by now
        print("capistrano benchmark interrupted", file=sys.stderr)
        sys.exit(130)
