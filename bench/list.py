"""(b) `releases list` and `list --json` with 10, 100, 200 and 1,000 releases: how the cost grows.

Every release is a real one (staged and activated by the library, with its meta file and its
history lines), so `list` reads 10, 100 or 1,000 meta files and a history of 3 lines per deploy.
Ratios are against `python -c pass` and against the same command with 10 releases.
"""

from __future__ import annotations

from _roots import root_with_releases, small_app
from _timing import PYTHON, arguments, cli_argv, interleaved, run, scratch, table

SIZES = (10, 100, 200, 1000)


def main() -> None:
    args = arguments(9, __doc__ or "")
    with scratch("list") as tmp:
        app = small_app(tmp / "app")
        roots = {n: root_with_releases(tmp / f"root{n}", app, n) for n in SIZES}
        variants = {"python -c pass": lambda: run([PYTHON, "-c", "pass"])}
        for n, root in roots.items():
            for extra in ((), ("--json",)):
                argv = cli_argv("list", "--root", str(root.path), *extra)
                label = f"list{' --json' if extra else ''} ({n:,} releases)"
                variants[label] = lambda argv=argv: run(argv)
        samples = interleaved(variants, args.runs)
    table(
        "list",
        samples,
        ["python -c pass", "list (10 releases)"],
        note="target: list of 1,000 releases <= 300 ms",
    )


if __name__ == "__main__":
    main()
