"""(c) Deploy overhead with no build, from a local directory of 5,000 files, against `cp -a`.

`releases deploy --source DIR` copies the tree into a new release (preserving modes, mtimes and
links like `cp -a`), measures its size once for the meta file, writes meta and history, and
switches `current`. `cp -a` of the same tree into a fresh directory is the floor. `--keep` is
high so no pruning happens here (pruning is measured in prune.py).
"""

from __future__ import annotations

import shutil

from _roots import tree
from _timing import PYTHON, arguments, cli_argv, interleaved, run, scratch, table

FILES = 5000


def main() -> None:
    args = arguments(7, __doc__ or "")
    with scratch("deploy") as tmp:
        source = tree(tmp / "app", FILES, per_dir=100, size=2048)
        root = tmp / "root"
        root.mkdir()
        run(cli_argv("init", "--root", str(root)))
        copies = tmp / "copies"
        copies.mkdir()
        deploy = cli_argv("deploy", "--root", str(root), "--source", str(source), "--keep", "999")

        def clean() -> None:
            shutil.rmtree(copies / "dest", ignore_errors=True)

        samples = interleaved(
            {
                "releases deploy (no build)": lambda: run(deploy),
                "cp -a": lambda: run(["cp", "-a", str(source), str(copies / "dest")]),
                "python -c pass": lambda: run([PYTHON, "-c", "pass"]),
            },
            args.runs,
            between=clean,
        )
    table(
        f"deploy from a directory of {FILES:,} files (2 KiB each)",
        samples,
        ["cp -a", "python -c pass"],
        note="target: deploy <= 1.5x cp -a",
    )


if __name__ == "__main__":
    main()
