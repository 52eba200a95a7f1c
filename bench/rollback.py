"""(a) `releases rollback` wall time against the shell floor and against `python -c pass`.

The shell floor is what a hand-rolled rollback does at best: `ln -s X tmp && mv -T tmp current`
(no lock, no history, no checks). `python -c pass` is the interpreter's own start-up. Each round
rolls back to the other of two releases, so every timed run is a real switch.
"""

from __future__ import annotations

from _roots import root_with_releases, small_app
from _timing import PYTHON, arguments, cli_argv, cli_env, interleaved, run, scratch, table


def main() -> None:
    args = arguments(15, __doc__ or "", releases=5)
    with scratch("rollback") as tmp:
        app = small_app(tmp / "app")
        # One root per variant, so each one alternates between its own two releases.
        roots = {
            name: root_with_releases(tmp / name, app, args.releases) for name in ("cli", "shell")
        }
        flips = dict.fromkeys(roots, 0)

        def flip(name: str) -> str:
            """The other of the two newest releases (the newest one is current at the start)."""
            ids = sorted(p.name for p in roots[name].releases.iterdir())
            return ids[-2] if flips[name] == 0 else ids[-1]

        def cli(name: str, env: dict[str, str]) -> None:
            target = flip(name)
            run(cli_argv("rollback", "--root", str(roots[name].path), "--to", target), env)
            flips[name] ^= 1

        def shell() -> None:
            target = flip("shell")
            link = f"ln -s releases/{target} .bench-tmp && mv -T .bench-tmp current"
            run(["sh", "-c", link], cwd=roots["shell"].path)
            flips["shell"] ^= 1

        env = cli_env()
        samples = interleaved(
            {
                "releases rollback": lambda: cli("cli", env),
                "shell: ln -s + mv -T": shell,
                "python -c pass": lambda: run([PYTHON, "-c", "pass"]),
            },
            args.runs,
        )
    table(
        f"rollback ({args.releases} kept releases)",
        samples,
        ["shell: ln -s + mv -T", "python -c pass"],
        note="target: releases rollback median <= 150 ms",
    )


if __name__ == "__main__":
    main()
