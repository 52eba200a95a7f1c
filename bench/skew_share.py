"""Cost of build.share_static: a deploy that hardlinks 5 kept releases' `.next/static` files.

Two roots, each with `--keep 5` and a build that writes FILES content-named files into
`.next/static/chunks` (a mid-sized Next.js app has a few hundred): one with
`share_static = true`, one with `false`. Deploys alternate between the roots round by round
(after warm-up rounds that fill both to 5 kept releases), so every timed sharing deploy links
4-5 kept builds' files (about 5 x FILES) and prunes one, whose files it takes back out. Prints
median deploy times, the ratio, and the disk used by releases/ with and without sharing
(hardlinked files counted once).
"""

from __future__ import annotations

from pathlib import Path

from _roots import small_app
from _timing import arguments, cli_argv, cli_env, interleaved, run, scratch, table

FILES = 300
BUILD = (
    f"mkdir -p .next/static/chunks && for i in $(seq {FILES}); do "
    'echo "$RELEASE_ID $i" > .next/static/chunks/$RELEASE_ID-$i.js; done'
)


def make_root(base: Path, share: bool) -> Path:
    root = base / ("shared" if share else "plain")
    root.mkdir()
    run(cli_argv("init", "--root", str(root)))
    (root / "releases.toml").write_text(f"keep = 5\n[build]\nshare_static = {str(share).lower()}\n")
    return root


def deploy(root: Path, app: Path) -> None:
    argv = ["deploy", "--root", str(root), "--source", str(app), "--preset", "none"]
    run(cli_argv(*argv, "--build", BUILD), env=cli_env())


def main() -> None:
    args = arguments(7, __doc__ or "")
    with scratch("skew") as base:
        app = small_app(base / "app")
        roots = {"share_static = false": make_root(base, False)}
        roots["share_static = true"] = make_root(base, True)
        samples = interleaved(
            {label: (lambda r=root: deploy(r, app)) for label, root in roots.items()},
            args.runs,
            warmup=5,
        )
        table(
            f"deploy with {FILES} static files per build, 5 releases kept",
            samples,
            ["share_static = false"],
        )
        from releases_cli.core.tree import tree_size

        for label, root in roots.items():
            newest = sorted((root / "releases").iterdir())[-1]
            files = sum(1 for _ in (newest / ".next/static/chunks").iterdir())
            disk = tree_size(root / "releases")  # every inode once: hardlinks cost nothing
            print(f"{label}: newest release serves {files} static files; releases/ uses {disk} B")


if __name__ == "__main__":
    main()
