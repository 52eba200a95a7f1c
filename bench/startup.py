"""(e) Start-up: `releases --help` and `releases rollback --help` against the interpreter.

Help goes through typer and click's plain help formatter (rich is not used: help texts are
printed as written), so it costs more than the commands themselves; `python -c "import typer"`
shows typer's own share.
"""

from __future__ import annotations

from _timing import PYTHON, arguments, cli_argv, interleaved, run, table


def main() -> None:
    args = arguments(15, __doc__ or "")
    samples = interleaved(
        {
            "releases --help": lambda: run(cli_argv("--help")),
            "releases rollback --help": lambda: run(cli_argv("rollback", "--help")),
            'python -c "import typer"': lambda: run([PYTHON, "-c", "import typer"]),
            "python -c pass": lambda: run([PYTHON, "-c", "pass"]),
        },
        args.runs,
    )
    table("start-up", samples, ["python -c pass"])


if __name__ == "__main__":
    main()
