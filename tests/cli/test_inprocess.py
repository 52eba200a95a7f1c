"""The in-process runner gives what a real process gives: the same exit status, stdout and stderr
for the same program, argv, environment and cwd, with real processes as the oracle; and it
leaves the test process as it found it."""

from __future__ import annotations

import linecache
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import Cli, argv, cli_env, deploy_ok, needs_real_process, run_cli, run_real
from inprocess import run_in_process

# Python programs run both ways: `python -c CODE ARGS` and CODE exec'd as __main__ in process.
PROGRAMS = {
    "returns": "print('done')",
    "exit None": "import sys; sys.exit()",
    "exit 3": "import sys; sys.exit(3)",
    "exit 256 wraps to 0": "import sys; sys.exit(256)",
    "exit -1 is 255": "import sys; sys.exit(-1)",
    "exit True": "import sys; sys.exit(True)",
    "exit message": "import sys; sys.exit('fatal: no such thing')",
    "streams": "import sys; s, e = sys.stdout, sys.stderr; print(s.isatty(), e.isatty(), "
    "s.encoding, s.errors, e.errors, s.line_buffering, e.line_buffering)",
    "stdout is block-buffered": "import os; print('a', end=''); os.write(1, b'b')",
    "stderr is line-buffered": "import os, sys; print('x', file=sys.stderr, end=''); "
    "os.write(2, b'y'); print('z', file=sys.stderr); os.write(2, b'w')",
    "children inherit fds 1 and 2": "import subprocess; "
    "subprocess.run(['sh', '-c', 'echo child-out; echo child-err >&2'], check=True)",
    "newlines as text=True decodes them": "import sys; sys.stdout.write('a\\r\\nb\\rc ✓ café\\n')",
    "argv, cwd, environment": "import os, sys; print(sys.argv[1:], os.getcwd(), "
    "os.environ.get('MARK'), 'RELEASES_ROOT' in os.environ)",
    "warnings": "import warnings; warnings.warn('careful'); "
    "warnings.warn('old', DeprecationWarning); warnings.warn('later', PendingDeprecationWarning)",
    "logging": "import logging; logging.basicConfig(format='warning: %(message)s'); "
    "logging.getLogger('x').info('quiet'); logging.getLogger('x').warning('loud')",
    "non-daemon thread finishes": "import threading, time; "
    "threading.Thread(target=lambda: (time.sleep(0.2), print('late'))).start()",
    "signal dispositions": "import signal; print([signal.getsignal(s) for s in (signal.SIGINT, "
    "signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE, signal.SIGXFSZ)])",
    "own SIGTERM handler": "import os, signal; signal.signal(signal.SIGTERM, lambda *_: "
    "print('stopping')); os.kill(os.getpid(), signal.SIGTERM)",
    "thread exception": "import threading; "
    "t = threading.Thread(target=lambda: 1 / 0, name='worker'); t.start(); t.join()",
}
# Programs whose stderr is a traceback: frames differ (exec and the runner), the rest must not.
TRACEBACKS = {
    "uncaught exception": "raise ValueError('boom')",
    "uncaught KeyboardInterrupt": "raise KeyboardInterrupt",
}


@pytest.fixture(autouse=True)
def _interruptible() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt here, so also in the real processes started from here
    (a test run started in the background inherits SIGINT ignored: so would the CLI)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _program(code: str) -> Callable[[], object]:
    return lambda: exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})


def _both_ways(
    code: str, cwd: Path, unbuffered: bool = False
) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    env = {k: v for k, v in cli_env({"MARK": "marked"}).items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    args = ["first", "--second", "thïrd"]
    # Since 3.13 `python -c` shows its own lines in tracebacks and warnings (it registers the
    # code with linecache): so does the in-process run, for as long as it runs.
    if sys.version_info >= (3, 13):
        linecache.cache["<string>"] = (len(code), None, code.splitlines(True), "<string>")
    try:
        inside = run_in_process(args, cwd=cwd, env=env, timeout=60, main=_program(code))
    finally:
        linecache.cache.pop("<string>", None)
    return inside, run_real(args, cwd=cwd, env=env, timeout=60, program=("-c", code))


@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "PYTHONUNBUFFERED"])
@pytest.mark.parametrize("name", list(PROGRAMS))
def test_a_program_gives_what_its_real_process_gives(
    name: str, unbuffered: bool, tmp_path: Path
) -> None:
    """Exit status (SystemExit codes as the OS reports them), stdout and stderr (buffering,
    what children write, warnings, logging, thread errors) equal a real `python -c` run, with
    buffered stdio and with PYTHONUNBUFFERED."""
    inside, real = _both_ways(PROGRAMS[name], tmp_path, unbuffered)
    assert (inside.returncode, inside.stdout, inside.stderr) == (
        real.returncode,
        real.stdout,
        real.stderr,
    )
    assert real.stdout or real.stderr or name.startswith("exit"), "the program shows something"


@pytest.mark.parametrize("name", list(TRACEBACKS))
def test_an_uncaught_exception_gives_the_status_and_traceback_of_a_process(
    name: str, tmp_path: Path
) -> None:
    """An uncaught exception prints a traceback and exits 1; an uncaught KeyboardInterrupt
    ends the process by SIGINT; the same as a real process."""
    inside, real = _both_ways(TRACEBACKS[name], tmp_path)
    assert inside.returncode == real.returncode
    assert real.returncode == (-signal.SIGINT if "Keyboard" in name else 1)
    for result in (inside, real):
        lines = result.stderr.splitlines()
        assert lines[0] == "Traceback (most recent call last):"
    assert inside.stderr.splitlines()[-2:] == real.stderr.splitlines()[-2:]


def _app(path: Path) -> Path:
    (path / "pages").mkdir(parents=True)
    (path / "index.html").write_text("v1\n")
    (path / "pages" / "about.html").write_text("about\n")
    return path


def _normal(text: str, *bases: Path) -> str:
    """What legitimately differs between two runs: where they ran (the copied root still names
    the first run's app), when, for how long, and which pid."""
    for base in bases:
        text = text.replace(str(base), "<base>")
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)", "<time>", text)
    text = re.sub(r"\d{8}T\d{6}Z(-\d+)?", "<id>", text)
    text = re.sub(r"\b(a second ago|\d+ seconds ago|\d+(\.\d+)?m?s|\d+s ago|now)\b", "<t>", text)
    text = re.sub(r'"(age_seconds|pid)": \d+', r'"\1": <n>', text)
    text = re.sub(r"\b(pid |tmp-)\d+(-[0-9a-f]+)?", r"\1<pid>", text)
    return re.sub(r" {2,}", "  ", text)  # table columns follow the width of what was set aside


BUILD = (
    "echo out; echo err >&2; printf '\\033[31mred\\033[0m\\n'; echo NO_COLOR=$NO_COLOR; "
    'cat "$DEPLOY_ROOT/.releases/lock.info"; echo'
)
CORRUPT = '{"event": "deploy_started", "release_id": \n'
# (arguments with {root}/{app}, prepared state, extra environment, run in the root)
SCENARIOS: dict[str, tuple[list[str], str, dict[str, str], bool]] = {
    "deploy with build output and the lock's command line": (
        argv("deploy", root="{root}", source="{app}", build=[BUILD]),
        "empty",
        {},
        False,
    ),
    "deploy --verbose": (
        argv("deploy", root="{root}", source="{app}", verbose=True),
        "deployed",
        {},
        False,
    ),
    "list --json": (argv("list", root="{root}", json=True), "deployed", {}, False),
    "status from RELEASES_ROOT": (["status"], "deployed", {"RELEASES_ROOT": "{root}"}, False),
    "status in the root's directory": (["status"], "deployed", {}, True),
    "history warns about a corrupt line": (
        argv("history", root="{root}"),
        "corrupt",
        {},
        False,
    ),
    "rollback without a previous release": (argv("rollback", root="{root}"), "deployed", {}, False),
    "rollback to a malformed id": (
        argv("rollback", root="{root}", to="../x"),
        "deployed",
        {},
        False,
    ),
    "failing build": (
        argv("deploy", root="{root}", source="{app}", build=["exit 3"]),
        "deployed",
        {},
        False,
    ),
    "interrupted build (SIGINT to the CLI)": (
        argv("deploy", root="{root}", source="{app}", build=["kill -INT $PPID; sleep 2"]),
        "deployed",
        {},
        False,
    ),
    "usage error": (argv("deploy", root="{root}", keep="0"), "empty", {}, False),
    "unknown command": (["frobnicate"], "empty", {}, False),
    "help": (["rollback", "--help"], "empty", {}, False),
    "shell completion": (
        [],
        "deployed",
        {
            "_RELEASES_COMPLETE": "complete_bash",
            "COMP_WORDS": "releases rollback --root {root} --to ",
            "COMP_CWORD": "5",
        },
        False,
    ),
}


def _prepare(state: str, base: Path) -> tuple[Path, Path]:
    root, app = base / "root", _app(base / "app")
    root.mkdir()
    if state in ("deployed", "corrupt"):
        deploy_ok(run_cli, root, app)
        deploy_ok(run_cli, root, app)
        if state == "corrupt":
            with (root / ".releases" / "history.jsonl").open("a") as history:
                history.write(CORRUPT)
    return root, app


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_command_gives_what_the_real_process_gives(name: str, tmp_path: Path) -> None:
    """`releases ARGS` in process and as a real process, each on its own copy of the same deploy
    root: the same exit status, stdout and stderr (once paths, times and pids are set aside)."""
    words, state, extra, in_root = SCENARIOS[name]
    _prepare(state, tmp_path / "first")
    shutil.copytree(tmp_path / "first", tmp_path / "second", symlinks=True)
    results = []
    for base, real in ((tmp_path / "first", False), (tmp_path / "second", True)):
        root, app = base / "root", base / "app"
        args = [w.format(root=root, app=app) for w in words]
        env = {k: v.format(root=root) for k, v in extra.items()}
        result = run_cli(*args, env=env, cwd=root if in_root else None, real=real)
        bases = (base, tmp_path / "first")
        outputs = (_normal(result.stdout, *bases), _normal(result.stderr, *bases))
        results.append((result.returncode, *outputs))
    inside, real_result = results
    assert inside == real_result
    assert real_result[1] or real_result[2], "the command shows something"


def test_an_interrupt_ends_with_130_and_records_the_release_as_failed(tmp_path: Path) -> None:
    """Ctrl-C during a build (SIGINT to the CLI, in process: to this process) ends the command
    with 130 and marks the release failed; the test process goes on."""
    root, app = _prepare("empty", tmp_path)
    result = run_cli(*argv("deploy", root=root, source=app, build=["kill -INT $PPID; sleep 2"]))
    assert result.returncode == 130
    status = run_cli(*argv("list", root=root, json=True))
    assert '"failed"' in status.stdout


def test_an_ignored_interrupt_is_ignored_as_a_real_process_ignores_it(tmp_path: Path) -> None:
    """A parent that ignores SIGINT (a test run started in the background) passes that on to
    its child: the CLI then ignores it too and the deploy completes, in process as well."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # put back by _interruptible
    for real in (False, True):
        root, app = _prepare("empty", tmp_path / str(real))
        build = ["kill -INT $PPID; sleep 0.2"]
        result = run_cli(*argv("deploy", root=root, source=app, build=build), real=real)
        assert result.returncode == 0, result.stderr


def test_each_call_prints_its_own_warnings(tmp_path: Path) -> None:
    """logging.basicConfig configures only once per process: every in-process call still gets
    its warnings on its own stderr, not the first call's."""
    root, _app_path = _prepare("corrupt", tmp_path)
    for _ in range(2):
        result = run_cli(*argv("history", root=root))
        assert result.returncode == 0, result.stderr
        assert "skipped 1 corrupt line(s)" in result.stderr


def test_module_state_of_one_call_does_not_reach_the_next(tmp_path: Path) -> None:
    """What a command leaves in a module (warn_once's record of what it said, a filled cache)
    is gone for the next in-process call, as for a new process; nor does what the tests' own
    copy of the library holds reach a command, or the other way round."""
    from releases_cli.core import warn

    state = "print(sorted(warn._said), ids.is_valid_id.cache_info().currsize)"
    steps = ["ids.is_valid_id('20260101T000000Z')", "warn.warn_once('damaged')", "pass"]
    warn._said.add("said by the tests' copy")
    try:
        for step in steps:
            code = f"from releases_cli.core import ids, warn; {state}; {step}"
            result = run_in_process(
                [], cwd=tmp_path, env=cli_env(None), timeout=60, main=_program(code)
            )
            assert result.stdout == "[] 0\n", step
        assert warn._said == {"said by the tests' copy"}
    finally:
        warn._said.discard("said by the tests' copy")


def test_the_test_process_is_left_as_it_was(cli: Cli, tmp_path: Path) -> None:
    """After calls that succeed, fail, warn and are interrupted: the same environment, cwd,
    argv, std streams and fds 1/2, logging handlers and levels, warnings filters, signal
    handlers and exception hooks."""

    def snapshot() -> dict[str, object]:
        return {
            "environ": dict(os.environ),
            "cwd": os.getcwd(),
            "argv": list(sys.argv),
            "streams": (sys.stdin, sys.stdout, sys.stderr),
            "fds": [os.fstat(fd).st_ino for fd in (1, 2)],
            "handlers": list(logging.getLogger().handlers),
            "levels": (logging.getLogger().level, logging.getLogger("releases_cli").level),
            "filters": list(warnings.filters),
            "signals": [signal.getsignal(s) for s in signal.valid_signals()],
            "hooks": (sys.excepthook, sys.unraisablehook, threading.excepthook),
        }

    before = snapshot()
    root, app = _prepare("corrupt", tmp_path)
    assert cli("history", "--root", str(root), cwd=root).returncode == 0
    assert cli(*argv("deploy", root=root, source=app, verbose=True)).returncode == 0
    assert cli(*argv("deploy", root=root, source=app, build=["kill -INT $PPID"])).returncode
    assert cli("rollback", "--to", "nonsense", "--root", str(root)).returncode
    assert snapshot() == before


def test_process_only_calls_are_sent_to_a_real_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault points, explicit timeouts, interpreter start-up variables and calls from other
    threads need a process; plain calls (also with an unrelated environment) do not, unless
    RELEASES_TESTS_SUBPROCESS asks for real processes throughout."""
    monkeypatch.delenv("RELEASES_TESTS_SUBPROCESS", raising=False)
    plain = cli_env({"HOME": "/tmp"})
    assert needs_real_process(plain, {"HOME": "/tmp"}, None) is None
    assert needs_real_process(cli_env({"RELEASES_FAULT": "mid_build"}), None, None)
    assert needs_real_process(plain, None, 5.0)
    assert needs_real_process(plain, {"PYTHONPROFILEIMPORTTIME": "1"}, None)
    assert needs_real_process(plain, {"PYTHONPATH": "/elsewhere"}, None) is None
    reasons: list[str | None] = []
    thread = threading.Thread(target=lambda: reasons.append(needs_real_process(plain, None, None)))
    thread.start()
    thread.join()
    assert reasons[0] and "thread" in reasons[0]
    monkeypatch.setenv("RELEASES_TESTS_SUBPROCESS", "1")
    assert needs_real_process(plain, None, None)


def test_a_fault_point_kills_a_real_process_not_the_tests(cli: Cli, root: Path, app: Path) -> None:
    """RELEASES_FAULT makes the command SIGKILL itself: the call runs in a real process, whose
    death the test sees as -9 (in process it would have killed the test run)."""
    deploy_ok(cli, root, app)
    killed = cli(*argv("deploy", root=root, source=app), env={"RELEASES_FAULT": "after_mkdir"})
    assert killed.returncode == -signal.SIGKILL


def test_the_argument_builder_spells_options_as_the_cli_takes_them() -> None:
    """Keywords become options (underscores as dashes), lists repeat the option, True is a bare
    flag, None and False leave it out, positional arguments follow the command."""
    assert argv(
        "switch",
        "20260101T000000Z",
        root=Path("/r"),
        build=["a b", "c"],
        keep=2,
        json=True,
        dry_run=True,
        force=False,
        to=None,
    ) == [
        "switch",
        "20260101T000000Z",
        "--root",
        "/r",
        "--build",
        "a b",
        "--build",
        "c",
        "--keep",
        "2",
        "--json",
        "--dry-run",
    ]
