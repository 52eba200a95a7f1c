"""doctor in blue-green mode: the generated include must sit in the http block of
serve.nginx_config itself (where `releases nginx` and docs/blue-green.md say to put it), and
[restart]/[health], which this mode ignores, are reported. Real files only: doctor reads
nginx's configuration and runs nothing, so no nginx is started here."""

from __future__ import annotations

import json
import os
from pathlib import Path

from helpers import Cli

from releases_cli.serving import nginxconf

MAIN = """\
events {{ worker_connections 64; }}
http {{
    include mime.types;
{http}
    include {conf}/sites-enabled/*;
}}
{top}"""


def _setup(cli: Cli, root: Path, tmp_path: Path, extra: str = "") -> tuple[Path, Path]:
    """An initialised root, blue-green, whose nginx config is a fresh tree under tmp_path."""
    assert cli("init", "--root", str(root)).returncode == 0
    conf = tmp_path / "nginx"
    (conf / "sites-available").mkdir(parents=True)
    (conf / "sites-enabled").mkdir()
    (conf / "mime.types").write_text("types { text/css css; }\n")
    (root / "releases.toml").write_text(
        f'[serve]\nmode = "blue-green"\napp = "shop"\nnginx_config = "{conf}/nginx.conf"\n{extra}'
    )
    return conf, root / ".releases" / "serve" / "nginx.conf"


def _findings(cli: Cli, root: Path) -> tuple[int, list[dict[str, object]]]:
    result = cli("doctor", "--root", str(root), "--json")
    return result.returncode, list(json.loads(result.stdout)["findings"])


def _nginx(findings: list[dict[str, object]]) -> dict[str, object]:
    (finding,) = [f for f in findings if f["check"] == "nginx"]
    return finding


def test_include_in_the_http_block_passes(cli: Cli, root: Path, tmp_path: Path) -> None:
    conf, include = _setup(cli, root, tmp_path)
    (conf / "nginx.conf").write_text(MAIN.format(http=f"    include {include};", conf=conf, top=""))
    code, findings = _findings(cli, root)
    assert code == 0, findings
    assert _nginx(findings)["ok"] is True


def test_include_in_a_sites_available_file_is_reported_with_the_fix(
    cli: Cli, root: Path, tmp_path: Path
) -> None:
    """The include line written into the server block's file (sites-available, enabled by a
    link): doctor names that file and says to move the line into the main config's http
    block, exit 10; `releases nginx` says the same in its output and help."""
    conf, include = _setup(cli, root, tmp_path)
    (conf / "nginx.conf").write_text(MAIN.format(http="", conf=conf, top=""))
    site = conf / "sites-available" / "shop"
    site.write_text(f"include {include};\nserver {{ listen 8080; }}\n")
    (conf / "sites-enabled" / "shop").symlink_to(site)
    code, findings = _findings(cli, root)
    assert code == 10
    finding = _nginx(findings)
    assert finding["ok"] is False
    message, fix = str(finding["message"]), str(finding["fix"])
    assert (
        message == f"`include {include};` is in {conf}/sites-enabled/shop, not in {conf}/nginx.conf"
    )
    assert f"inside the `http {{ }}` block of {conf}/nginx.conf itself" in fix
    printed = cli("nginx", "--root", str(root))
    assert printed.returncode == 0, printed.stderr
    assert f"inside the `http {{ }}` block of {conf}/nginx.conf itself" in printed.stdout
    assert "http block of serve.nginx_config itself" in " ".join(
        cli("nginx", "--help").stdout.split()
    )


def test_include_in_a_server_block_or_outside_http_is_reported(
    cli: Cli, root: Path, tmp_path: Path
) -> None:
    conf, include = _setup(cli, root, tmp_path)
    line = f"include {include};"
    in_server = f"    server {{ listen 8080; {line} }}"
    for text, where in (
        (MAIN.format(http=in_server, conf=conf, top=""), "in http > server, not in the http"),
        (MAIN.format(http="", conf=conf, top=line + "\n"), "in the top level, not in the http"),
    ):
        (conf / "nginx.conf").write_text(text)
        code, findings = _findings(cli, root)
        assert code == 10
        assert where in str(_nginx(findings)["message"])


def test_a_commented_include_does_not_count(cli: Cli, root: Path, tmp_path: Path) -> None:
    conf, include = _setup(cli, root, tmp_path)
    (conf / "nginx.conf").write_text(
        MAIN.format(http=f"    # include {include};", conf=conf, top="")
    )
    code, findings = _findings(cli, root)
    assert code == 10
    assert f"has no `include {include};`" in str(_nginx(findings)["message"])


def test_restart_and_health_settings_are_reported_as_ignored(
    cli: Cli, root: Path, tmp_path: Path
) -> None:
    """[restart] and [health] do nothing in blue-green mode: doctor names each, exit 10."""
    extra = '[restart]\ncommand = "pm2 reload all"\n[health]\nurl = "http://127.0.0.1:3000/"\n'
    conf, include = _setup(cli, root, tmp_path, extra)
    (conf / "nginx.conf").write_text(MAIN.format(http=f"    include {include};", conf=conf, top=""))
    code, findings = _findings(cli, root)
    assert code == 10
    ignored = [str(f["message"]) for f in findings if not f["ok"] and f["check"] == "config"]
    assert len(ignored) == 2, findings
    assert ignored[0].startswith("[restart] in ") and "ignored in blue-green mode" in ignored[0]
    assert ignored[1].startswith("[health] in ") and "ignored in blue-green mode" in ignored[1]


def test_a_fifo_or_huge_file_among_nginx_files_is_not_read(
    cli: Cli, root: Path, tmp_path: Path
) -> None:
    """nginx's files are read bounded: a FIFO that the main config's include glob matches is
    skipped without blocking, a file over the cap is not read at all (the include line at its
    start is not seen), and the check still reports."""
    conf, include = _setup(cli, root, tmp_path)
    (conf / "nginx.conf").write_text(MAIN.format(http="", conf=conf, top=""))
    os.mkfifo(conf / "sites-enabled" / "fifo")  # no writer: a plain open would block forever
    line = f"include {include};\n".encode()
    (conf / "sites-enabled" / "huge").write_bytes(line + b"#" * nginxconf.CAP)
    code, findings = _findings(cli, root)
    assert code == 10
    assert f"has no `include {include};`" in str(_nginx(findings)["message"])
