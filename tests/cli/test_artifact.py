"""Release artifacts: `releases pack` builds once, `deploy --artifact` / `stage --artifact`
install the same tree anywhere (docs/artifacts.md). Real files, real archives, real pipes."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
import zstandard
from helpers import (
    REPO,
    Cli,
    cli_env,
    current_id,
    deploy_ok,
    initialised,
    later_id,
    releases_argv,
    tree_state,
)
from tarbytes import rewrite

from releases_cli.sources.artifact import container
from releases_cli.sources.artifact import manifest as mf

BUILD = "sh build.sh"


@pytest.fixture
def built_app(app: Path) -> Path:
    """The `app` fixture plus a build script whose output the release must carry."""
    (app / "build.sh").write_text("mkdir -p dist && echo built > dist/out.txt\n")
    return app


def pack(cli: Cli, app: Path, out: Path, *extra: str) -> str:
    """Pack `app` (with BUILD) into `out`; return the digest pack printed."""
    result = cli("pack", "--source", str(app), "--build", BUILD, "-o", str(out), *extra)
    assert result.returncode == 0, result.stderr
    _id, digest, written = result.stdout.split()
    assert written == str(out) and out.is_file()
    return digest


def content(release: Path) -> dict[str, str]:
    """What a user relies on in a release: kinds, bytes, link targets, the executable bit."""
    state = tree_state(release)
    for rel, value in state.items():
        path = release / rel
        if value.startswith("file:"):
            state[rel] = f"{value} x={os.access(path, os.X_OK)}"
    return state


def test_pack_then_deploy_gives_the_tree_a_direct_deploy_builds(
    cli: Cli, built_app: Path, tmp_path: Path
) -> None:
    """The round trip: a release installed from an artifact has the same content as one built
    on the server from the same source (the manifest stays outside the release), keeps the id it
    was built as, and `list --json` and `status` show the artifact's digest and build host."""
    artifact = tmp_path / "app.artifact"
    digest = pack(cli, built_app, artifact)
    direct = initialised(cli, tmp_path / "direct")
    result = cli("deploy", "--root", str(direct), "--source", str(built_app), "--build", BUILD)
    assert result.returncode == 0, result.stderr
    server = initialised(cli, tmp_path / "server")
    result = cli("deploy", "--root", str(server), "--artifact", str(artifact))
    assert result.returncode == 0, result.stderr

    installed = server / "releases" / current_id(server)
    assert content(installed) == content(direct / "releases" / current_id(direct))
    assert (installed / "dist" / "out.txt").read_text() == "built\n"
    with artifact.open("rb") as stream:
        assert container.check(stream).manifest.id == current_id(server)
    listed = json.loads(cli("list", "--root", str(server), "--json").stdout)["releases"][0]
    assert listed["artifact"]["digest"] == digest
    assert listed["artifact"]["built_on"] == os.uname().nodename
    assert listed["deps"] is None and listed["complete"]
    status = cli("status", "--root", str(server)).stdout
    assert f"artifact: {digest} (built on {os.uname().nodename} " in status


def test_stage_artifact_takes_the_id_it_was_built_as(
    cli: Cli, built_app: Path, tmp_path: Path
) -> None:
    """`stage --artifact` stages under the artifact's id (nothing goes live); `--id` with it is
    refused, and a host that has a newer release refuses the older id (exit 3)."""
    artifact = tmp_path / "app.artifact"
    pack(cli, built_app, artifact, "--id", "20261101T000000Z")
    server = initialised(cli, tmp_path / "server")
    refused = cli("stage", "--root", str(server), "--artifact", str(artifact), "--id", "x")
    assert refused.returncode == 3 and "mutually exclusive" in refused.stderr
    staged = cli("stage", "--root", str(server), "--artifact", str(artifact))
    assert staged.returncode == 0, staged.stderr
    assert staged.stdout.split()[-1] == "20261101T000000Z"
    assert not (server / "current").exists()

    older = tmp_path / "older.artifact"
    pack(cli, built_app, older, "--id", "20261001T000000Z")
    refused = cli("stage", "--root", str(server), "--artifact", str(older))
    assert refused.returncode == 3 and "older than 20261101T000000Z" in refused.stderr


def test_an_artifact_whose_id_is_taken_says_whether_it_was_deployed_before(
    cli: Cli, built_app: Path, tmp_path: Path
) -> None:
    """The same artifact deployed twice points at `switch`; another artifact under the id of a
    release already here (a deploy in the second the artifact was packed) asks for a new id."""
    server = initialised(cli, tmp_path / "server")
    artifact = tmp_path / "app.artifact"
    pack(cli, built_app, artifact, "--id", "20261101T000000Z")
    assert cli("deploy", "--root", str(server), "--artifact", str(artifact)).returncode == 0
    again = cli("deploy", "--root", str(server), "--artifact", str(artifact))
    assert again.returncode == 3
    assert "deployed here before (`releases switch 20261101T000000Z`)" in again.stderr
    (built_app / "other.txt").write_text("another build\n")
    other = tmp_path / "other.artifact"
    pack(cli, built_app, other, "--id", "20261101T000000Z")
    taken = cli("deploy", "--root", str(server), "--artifact", str(other))
    assert taken.returncode == 3
    assert "another release's id here" in taken.stderr and "new --id" in taken.stderr
    assert "deployed here before" not in taken.stderr


def test_an_id_far_ahead_of_the_clock_is_refused_and_later_ids_stay_ordinary(
    cli: Cli, built_app: Path, tmp_path: Path
) -> None:
    """An artifact built as 99991231T235959Z (the top of the id format) or two days ahead is
    refused by deploy and stage (exit 3, one line, nothing changed): it would push every later
    id past it. One an hour ahead (clock skew) is taken, and a later plain deploy still gets an
    ordinary id that sorts after it."""
    artifact = tmp_path / "app.artifact"
    pack(cli, built_app, artifact)
    server = initialised(cli, tmp_path / "server")
    first = deploy_ok(cli, server, built_app, "--build", BUILD)
    for far in ("99991231T235959Z", later_id(hours=48)):
        forged = tmp_path / f"{far}.artifact"
        rewrite(artifact, forged, id=far)
        before = tree_state(server)
        for command in ("deploy", "stage"):
            result = cli(command, "--root", str(server), "--artifact", str(forged))
            assert result.returncode == 3, result.stderr
            assert "more than a day ahead of this host's clock" in result.stderr
            assert len(result.stderr.strip().splitlines()) == 1
        assert tree_state(server) == before and current_id(server) == first
    refused = cli("pack", "--source", str(built_app), "-o", str(tmp_path / "x.artifact"),
                  "--id", "99991231T235959Z")  # fmt: skip
    assert refused.returncode == 3 and "ahead of this host's clock" in refused.stderr
    skewed = tmp_path / "skewed.artifact"
    near = later_id(hours=1)
    rewrite(artifact, skewed, id=near)
    assert cli("deploy", "--root", str(server), "--artifact", str(skewed)).returncode == 0
    after = deploy_ok(cli, server, built_app, "--build", BUILD)
    assert current_id(server) == after and after.startswith(near) and after != near
    listed = json.loads(cli("list", "--root", str(server), "--json").stdout)
    assert [r["id"] for r in listed["releases"]][:2] == [after, near]


def test_pack_refuses_a_work_dir_that_looks_like_a_deploy_root(
    cli: Cli, built_app: Path, tmp_path: Path
) -> None:
    """`pack --work DIR` deletes the other releases of DIR, so a live deploy root (current,
    releases), or a directory with only releases/ or only .releases/, is refused with exit 3
    and left byte-identical; an empty directory becomes a work directory."""
    live = initialised(cli, tmp_path / "live")
    deploy_ok(cli, live, built_app, "--build", BUILD)
    deploy_ok(cli, live, built_app, "--build", BUILD)
    only_releases = tmp_path / "only-releases"
    (only_releases / "releases" / "20260101T000000Z").mkdir(parents=True)
    only_state = tmp_path / "only-state"
    (only_state / ".releases").mkdir(parents=True)
    out = tmp_path / "out.artifact"
    for work in (live, only_releases, only_state):
        before = tree_state(work)
        result = cli("pack", "--source", str(built_app), "--build", BUILD, "--work", str(work),
                     "-o", str(out))  # fmt: skip
        assert result.returncode == 3, result.stderr
        assert "looks like a deploy root" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert tree_state(work) == before and not out.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    for _ in range(2):
        pack(cli, built_app, out, "--work", str(empty))
    assert len(os.listdir(empty / "releases")) == 1
    doctor = cli("doctor", "--root", str(empty))
    assert doctor.returncode == 0 and "`releases pack` work directory" in doctor.stdout


def test_artifact_refuses_build_options(cli: Cli, tmp_path: Path) -> None:
    """An artifact is built already: --build (or --source) with it is refused, exit 3."""
    server = initialised(cli, tmp_path / "server")
    result = cli("deploy", "--root", str(server), "--artifact", "x", "--build", "make")
    assert result.returncode == 3 and "--artifact is built already" in result.stderr


def _flip(data: bytearray, at: int) -> bytearray:
    data[at] ^= 0x01
    return data


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda d, off: _flip(d, off + 40), id="payload-byte-flipped"),
        pytest.param(lambda d, off: _flip(d, len(d) - 1), id="junk-after-end"),
        pytest.param(lambda d, off: d[: off - 512], id="cut-in-payload-header"),
        pytest.param(lambda d, off: d[:300], id="cut-in-manifest"),
        pytest.param(lambda d, off: d[: off + 100], id="cut-in-payload"),
        pytest.param(lambda d, off: d[:-1024], id="cut-at-end-marker"),
        pytest.param(lambda d, off: b"not an artifact" + bytes(600), id="not-a-tar"),
    ],
)
def test_damaged_artifact_is_refused_and_nothing_changes(
    cli: Cli, built_app: Path, tmp_path: Path, damage: object
) -> None:
    """Tampered, truncated or foreign archives: one line, exit 3, the root unchanged (no release
    directory, no history line)."""
    artifact = tmp_path / "app.artifact"
    pack(cli, built_app, artifact)
    data = bytearray(artifact.read_bytes())
    with artifact.open("rb") as stream:
        offset = container.check(stream).offset
    bad = tmp_path / "bad.artifact"
    bad.write_bytes(bytes(damage(data, offset)))  # type: ignore[operator]
    server = initialised(cli, tmp_path / "server")
    before = tree_state(server)
    for command in ("deploy", "stage"):
        result = cli(command, "--root", str(server), "--artifact", str(bad))
        assert result.returncode == 3, result.stderr
        assert result.stderr.startswith("releases: error: ") and result.stderr.count("\n") == 1
        assert tree_state(server) == before


def _native_artifact(cli: Cli, app: Path, tmp_path: Path) -> Path:
    (app / "build.sh").write_text("mkdir -p build/Release && echo ELF > build/Release/addon.node\n")
    artifact = tmp_path / "native.artifact"
    pack(cli, app, artifact)
    return artifact


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"node": "v99.1.0"}, "Node.js 99"),
        ({"platform": "darwin"}, "darwin-"),
        ({"arch": "arm64"}, "-arm64"),
        ({"libc": "musl"}, "musl"),
    ],
)
def test_native_modules_for_another_runtime_are_refused(
    cli: Cli, app: Path, tmp_path: Path, changes: dict[str, str], said: str
) -> None:
    """An artifact whose native modules were built for another Node major, platform, arch or C
    library is refused (exit 3, nothing changed), naming what it was built for."""
    artifact = _native_artifact(cli, app, tmp_path)
    with artifact.open("rb") as stream:
        assert container.check(stream).manifest.native == ("build/Release/addon.node",)
    crafted = tmp_path / "crafted.artifact"
    rewrite(artifact, crafted, **changes)
    server = initialised(cli, tmp_path / "server")
    before = tree_state(server)
    result = cli("deploy", "--root", str(server), "--artifact", str(crafted))
    assert result.returncode == 3, result.stderr
    assert "native module" in result.stderr and said in result.stderr
    assert tree_state(server) == before


def test_without_native_modules_any_node_runs_it(cli: Cli, app: Path, tmp_path: Path) -> None:
    """Plain JavaScript runs on any Node: another Node major in the manifest is no refusal when
    the tree carries no native module."""
    (app / "build.sh").write_text("true\n")
    artifact = tmp_path / "app.artifact"
    pack(cli, app, artifact)
    crafted = tmp_path / "crafted.artifact"
    rewrite(artifact, crafted, node="v99.0.0", platform="darwin")
    server = initialised(cli, tmp_path / "server")
    result = cli("deploy", "--root", str(server), "--artifact", str(crafted))
    assert result.returncode == 0, result.stderr


def _hostile_artifact(tmp_path: Path, name: str) -> Path:
    """An artifact with a valid digest whose tree holds an entry named `name`."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    payload = io.BytesIO(zstandard.ZstdCompressor().compress(raw.getvalue()))
    digest = "sha256:" + __import__("hashlib").sha256(payload.getvalue()).hexdigest()
    manifest = mf.Manifest(mf.FORMAT, "20261101T000000Z", digest, len(payload.getvalue()), "zstd")
    out = tmp_path / "hostile.artifact"
    with out.open("wb") as target:
        container.write(target, manifest, payload)
    return out


@pytest.mark.parametrize("name", ["../escaped", "/tmp/absolute", "missing-dir/file"])
def test_unsafe_paths_in_a_sound_artifact_are_never_written(
    cli: Cli, tmp_path: Path, name: str
) -> None:
    """The digest proves integrity, not intent: entries escaping the release are found by the
    path-safe reader's scan while the artifact is checked, so it is refused (exit 3) before
    anything is made: the root is unchanged (no release, no meta, no history line)."""
    artifact = _hostile_artifact(tmp_path, name)
    server = initialised(cli, tmp_path / "server")
    before = tree_state(server)
    result = cli("deploy", "--root", str(server), "--artifact", str(artifact))
    assert result.returncode == 3, result.stderr
    assert "refusing archive entry" in result.stderr and result.stderr.count("\n") == 1
    assert tree_state(server) == before
    assert not (server / "escaped").exists() and not (tmp_path / "escaped").exists()


def test_pack_to_stdout_piped_into_deploy_from_stdin(built_app: Path, tmp_path: Path) -> None:
    """The one-line CI deploy, as two real processes joined by a pipe:
    `releases pack -o - | releases deploy --artifact -`."""
    server = tmp_path / "server"
    server.mkdir()
    env = cli_env(None)
    packer = subprocess.Popen(
        releases_argv("pack", "--source", str(built_app), "--build", BUILD, "-q", "-o", "-"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    assert packer.stdout is not None
    deployer = subprocess.run(
        releases_argv("deploy", "--root", str(server), "--artifact", "-"),
        stdin=packer.stdout,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    packer.stdout.close()
    assert packer.wait(timeout=120) == 0
    assert deployer.returncode == 0, deployer.stderr
    assert (server / "current" / "dist" / "out.txt").read_text() == "built\n"
    assert os.listdir(server / ".releases" / "meta") == [f"{current_id(server)}.json"]


def test_a_stream_cut_short_is_refused_before_a_release_exists(
    cli: Cli, built_app: Path, tmp_path: Path
) -> None:
    """A pipe that ends early (the packer killed, the connection lost) is refused with exit 3
    after the whole stream was read, and leaves nothing: no release, no history, no spool file."""
    artifact = tmp_path / "app.artifact"
    pack(cli, built_app, artifact)
    data = artifact.read_bytes()
    server = initialised(cli, tmp_path / "server")
    before = tree_state(server)
    reader = subprocess.Popen(
        releases_argv("deploy", "--root", str(server), "--artifact", "-"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(None),
    )
    _, err = reader.communicate(data[: len(data) // 2], timeout=120)
    assert reader.returncode == 3, err
    assert b"truncated" in err
    assert tree_state(server) == before


def test_killed_while_extracting_leaves_current_and_is_recovered(
    cli: Cli, app: Path, tmp_path: Path
) -> None:
    """SIGKILL halfway through the extraction: `current` still names the release live before,
    and the next command records the interrupted deploy (the half tree is never made live)."""
    (app / "build.sh").write_text("for i in $(seq 30); do echo $i > f$i; done\n")
    server = initialised(cli, tmp_path / "server")
    artifacts = [tmp_path / f"{n}.artifact" for n in (1, 2, 3)]
    for n, artifact in enumerate(artifacts, start=1):
        pack(cli, app, artifact, "--id", f"2026110{n}T000000Z")
    first, second, third = artifacts
    assert cli("deploy", "--root", str(server), "--artifact", str(first)).returncode == 0
    live = current_id(server)
    killed = cli(
        "deploy", "--root", str(server), "--artifact", str(second),
        env={"RELEASES_FAULT": "mid_export"},
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL
    assert current_id(server) == live
    assert current_id(server) == live
    after = cli("deploy", "--root", str(server), "--artifact", str(third))
    assert after.returncode == 0, after.stderr
    assert "deploy of 20261102T000000Z was interrupted (release is incomplete)" in after.stderr


def test_ci_workflow_names_every_secret_it_uses() -> None:
    """examples/ci/github-actions-deploy.yml is valid YAML, deploys with `--artifact -`, and
    names at its top every secret it reads (what a user must set up)."""
    import yaml  # type: ignore[import-untyped]  # ansible-core brings it (dev extra)

    path = REPO / "examples" / "ci" / "github-actions-deploy.yml"
    text = path.read_text()
    workflow = yaml.safe_load(text)
    steps = workflow["jobs"]["deploy"]["steps"]
    assert any("--artifact -" in step.get("run", "") for step in steps)
    header = text.split("\nname:", 1)[0]
    used = set(re.findall(r"secrets\.([A-Z_]+)", text))
    assert used and all(f"#   {name}" in header for name in used)


def test_pack_from_git_in_a_kept_work_dir(cli: Cli, tmp_path: Path) -> None:
    """`pack --repo --work W`: the manifest carries the commit, W keeps only the newest packed
    release (the next pack's donor), and the server says "already live" for the same commit."""
    from gitrepos import commit, init_repo

    repo = init_repo(tmp_path / "repo")
    sha = commit(repo, {"index.html": "v1\n"}, "first")
    work = tmp_path / "work"
    first, second = tmp_path / "1.artifact", tmp_path / "2.artifact"
    for n, out in enumerate((first, second), start=1):
        result = cli("pack", "--repo", str(repo), "--work", str(work), "--id",
                     f"2026110{n}T000000Z", "-o", str(out))  # fmt: skip
        assert result.returncode == 0, result.stderr
    assert os.listdir(work / "releases") == ["20261102T000000Z"]
    with first.open("rb") as stream:
        manifest = container.check(stream).manifest
    assert manifest.source["revision"] == sha and manifest.app == "repo"
    server = initialised(cli, tmp_path / "server")
    assert cli("deploy", "--root", str(server), "--artifact", str(first)).returncode == 0
    again = cli("deploy", "--root", str(server), "--artifact", str(second))
    assert again.returncode == 0 and "already live" in again.stdout
    assert current_id(server) == "20261101T000000Z"


def test_killed_while_reading_stdin_leaves_nothing(
    cli: Cli, built_app: Path, tmp_path: Path
) -> None:
    """SIGKILL while the artifact's content is still arriving on stdin (spooled into an unnamed
    file in .releases/ while it is checked): the root is exactly as before, no spool file, no
    release, no history line."""
    artifact = tmp_path / "app.artifact"
    pack(cli, built_app, artifact)
    server = initialised(cli, tmp_path / "server")
    before = tree_state(server)
    reader = subprocess.Popen(
        releases_argv("deploy", "--root", str(server), "--artifact", "-"),
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(None),
    )
    assert reader.stdin is not None
    with artifact.open("rb") as stream:
        offset = container.check(stream).offset  # the spool is made once the content starts
    reader.stdin.write(artifact.read_bytes()[: offset + 512])
    reader.stdin.flush()
    spool = str(server / ".releases") + "/"
    for _ in range(600):  # bounded: until the process has the spool open (30 s at most)
        if any(target.startswith(spool) for target in _fd_targets(reader.pid)):
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"never saw the spool file open: {_fd_targets(reader.pid)}")
    reader.send_signal(signal.SIGKILL)
    reader.wait(timeout=30)
    reader.stdin.close()
    assert tree_state(server) == before


def _fd_targets(pid: int) -> list[str]:
    """What the process's descriptors name (an unnamed O_TMPFILE file: `DIR/#123 (deleted)`)."""
    targets = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            targets.append(os.readlink(fd))
        except OSError:
            continue  # closed meanwhile
    return targets


def test_server_shared_files_are_linked_and_its_build_commands_not_run(
    cli: Cli, built_app: Path, tmp_path: Path
) -> None:
    """The server's [shared] files are linked into a release from an artifact (the build
    machine's are not carried over), and its [build] commands do not run: it is built."""
    artifact = tmp_path / "app.artifact"
    pack(cli, built_app, artifact)
    server = initialised(cli, tmp_path / "server")
    (server / "shared" / ".env.production").write_text("SECRET=server\n")
    (server / "releases.toml").write_text(
        '[shared]\nfiles = [".env.production"]\n[build]\ncommands = ["touch ran"]\n'
    )
    result = cli("deploy", "--root", str(server), "--artifact", str(artifact))
    assert result.returncode == 0, result.stderr
    release = server / "current"
    assert os.readlink(release / ".env.production") == "../../shared/.env.production"
    assert (release / ".env.production").read_text() == "SECRET=server\n"
    assert not (release / "ran").exists()


def test_an_artifact_from_a_pipe_path_is_spooled(cli: Cli, built_app: Path, tmp_path: Path) -> None:
    """`--artifact <(curl ...)` (a path that is a pipe, read once) deploys like a file."""
    artifact = tmp_path / "app.artifact"
    pack(cli, built_app, artifact)
    server = initialised(cli, tmp_path / "server")
    fifo = tmp_path / "artifact.fifo"
    os.mkfifo(fifo)
    deployer = subprocess.Popen(
        releases_argv("deploy", "--root", str(server), "--artifact", str(fifo)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(None),
    )
    with fifo.open("wb") as writer:
        writer.write(artifact.read_bytes())
    _, err = deployer.communicate(timeout=120)
    assert deployer.returncode == 0, err
    assert (server / "current" / "dist" / "out.txt").read_text() == "built\n"
