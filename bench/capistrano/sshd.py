"""A throwaway sshd on 127.0.0.1 for the Capistrano benchmark, and the ssh client set up for it.

Everything lives in one temporary directory: a fresh host key and client key, the server's own
sshd_config (`sshd -f`), the client's own ssh_config (`ssh -F`, so neither ~/.ssh/config nor
/etc/ssh/ssh_config is read and ~/.ssh is never created or written), and a known_hosts file
holding only the throwaway host key (host keys are checked, strictly). The server accepts only
the throwaway key of the user running the benchmark, listens on 127.0.0.1 only, on a port that
was free, and is stopped when the context exits: normally, on an error, on Ctrl-C, or on SIGTERM
(see `stop_on_sigterm`). On Linux it also gets SIGTERM if this process is killed outright.

Root and non-root both work: as root, sshd needs its privilege-separation directory /run/sshd
(created here if missing, and removed again); a non-root sshd can only log its own user in,
which is the one the benchmark uses.
"""

from __future__ import annotations

import contextlib
import ctypes
import getpass
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HOST_ALIAS = "releases-bench"
PRIVSEP_DIR = Path("/run/sshd")  # compiled into Debian's sshd; needed only when run as root
READY_SECONDS = 10.0


def sshd_binary() -> str | None:
    """sshd is in /usr/sbin, which a non-root PATH often lacks."""
    found = shutil.which("sshd") or "/usr/sbin/sshd"
    return found if os.access(found, os.X_OK) else None


@dataclass(frozen=True)
class Endpoint:
    """How both tools reach the throwaway server."""

    port: int
    user: str
    client_key: Path
    known_hosts: Path
    ssh_config: Path
    pid: int

    def ssh_argv(self, command: list[str]) -> list[str]:
        """`ssh host COMMAND` through the throwaway config (the remote shell runs the quoted
        command, as it would for `ssh host releases rollback`)."""
        return ["ssh", "-F", str(self.ssh_config), HOST_ALIAS, shlex.join(command)]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )


def _sshd_config(workdir: Path, port: int, user: str, login_rc: bool) -> str:
    # bash sources ~/.bashrc for a command run by sshd (Debian builds it so) unless it is a
    # nested shell: SHLVL=1 makes it one, so a slow rc file (pyenv init: 0.3 s here) is not
    # timed once per command of either tool.
    rc = "" if login_rc else "SetEnv SHLVL=1\n"
    return f"""\
# Throwaway sshd of bench/capistrano: 127.0.0.1 only, one key, one user.
ListenAddress 127.0.0.1
Port {port}
HostKey {workdir / "host_key"}
PidFile {workdir / "sshd.pid"}
AuthorizedKeysFile {workdir / "authorized_keys"}
AllowUsers {user}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
# the key files sit in a temporary directory under /tmp (mode 1777), which StrictModes refuses
StrictModes no
PrintMotd no
PrintLastLog no
UseDNS no
X11Forwarding no
AllowTcpForwarding no
PermitUserEnvironment no
MaxStartups 50
LogLevel ERROR
{rc}"""


def _ssh_config(workdir: Path, port: int, user: str) -> str:
    return f"""\
# Client side of bench/capistrano's throwaway sshd (used with ssh -F: nothing else is read).
Host {HOST_ALIAS}
  HostName 127.0.0.1
  Port {port}
  User {user}
  IdentityFile {workdir / "client_key"}
  IdentitiesOnly yes
  IdentityAgent none
  UserKnownHostsFile {workdir / "known_hosts"}
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  UpdateHostKeys no
  BatchMode yes
  PasswordAuthentication no
  ControlMaster no
  ControlPath none
  LogLevel ERROR
"""


def _die_with_parent() -> None:
    """In the sshd child before exec: SIGTERM when the benchmark dies, even by SIGKILL (Linux
    prctl PR_SET_PDEATHSIG; elsewhere the `finally` of the context is all there is)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


@contextlib.contextmanager
def _privsep_dir() -> Iterator[None]:
    """/run/sshd for a root sshd (the system sshd's init script normally makes it)."""
    if os.geteuid() != 0 or PRIVSEP_DIR.exists():
        yield
        return
    PRIVSEP_DIR.mkdir(mode=0o755)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            PRIVSEP_DIR.rmdir()


def _wait_until_ready(server: subprocess.Popen[bytes], endpoint: Endpoint, log: Path) -> None:
    """The port accepts connections and the key logs in (`ssh host true`)."""
    deadline = time.monotonic() + READY_SECONDS
    while True:
        if server.poll() is not None:
            raise SystemExit(f"sshd exited with {server.returncode}: {log.read_text().strip()}")
        check = subprocess.run(
            endpoint.ssh_argv(["true"]), capture_output=True, text=True, check=False
        )
        if check.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise SystemExit(
                f"could not log in to the throwaway sshd on 127.0.0.1:{endpoint.port}: "
                f"{check.stderr.strip()} {log.read_text().strip()}"
            )
        time.sleep(0.1)


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@contextlib.contextmanager
def throwaway_sshd(workdir: Path, login_rc: bool = False) -> Iterator[Endpoint]:
    """Start sshd on a free 127.0.0.1 port with fresh keys in `workdir` (made here, mode 700);
    yield how to reach it; stop it whatever happens. `login_rc`: let bash read ~/.bashrc."""
    binary = sshd_binary()
    if binary is None:
        raise SystemExit("sshd not found (apt-get install openssh-server)")
    workdir.mkdir(mode=0o700)
    user = getpass.getuser()
    _keygen(workdir / "host_key", "releases-bench-host")
    _keygen(workdir / "client_key", "releases-bench-client")
    (workdir / "authorized_keys").write_text((workdir / "client_key.pub").read_text())
    port = _free_port()
    host_key = (workdir / "host_key.pub").read_text().split()
    (workdir / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    config = workdir / "sshd_config"
    config.write_text(_sshd_config(workdir, port, user, login_rc))
    (workdir / "ssh_config").write_text(_ssh_config(workdir, port, user))
    log = workdir / "sshd.log"
    with _privsep_dir(), log.open("wb") as log_file:
        # -D: stay in the foreground as our child; -e: errors to the log file. Own session, so
        # Ctrl-C reaches the benchmark (which then stops the server), not the server directly.
        server = subprocess.Popen(
            [binary, "-D", "-e", "-f", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 (no threads exist yet)
        )
        try:
            endpoint = Endpoint(
                port,
                user,
                workdir / "client_key",
                workdir / "known_hosts",
                workdir / "ssh_config",
                server.pid,
            )
            _wait_until_ready(server, endpoint, log)
            yield endpoint
        finally:
            _stop(server)


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C does, so every `finally` (sshd, temp files) runs."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
