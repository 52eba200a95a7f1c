"""The settings: one NamedTuple per releases.toml section, its fields being the keys (a NamedTuple
is as typed and immutable as a frozen dataclass, and cheaper per class at start-up: see
bench/README.md, "Figures kept out of the code").

Values here are already checked (by `values`); code downstream uses them as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple, TypeVar, get_args

from releases_cli.config import values
from releases_cli.config.values import ExecMode, IoClass, ServeMode
from releases_cli.core.errors import InvalidInput
from releases_cli.nextjs.choices import Preset, ShareStatic

T = TypeVar("T")

HookPoint = Literal[
    "before_build", "after_build", "before_switch", "after_switch", "after_rollback", "on_failure"
]
HOOK_POINTS: tuple[HookPoint, ...] = get_args(HookPoint)


class SourceConfig(NamedTuple):
    path: str = ""  # a directory to copy ("": none)
    repo: str = ""  # a git repository URL or path ("": none)
    ref: str = ""  # branch, tag or commit ("": the remote's default branch)
    submodules: bool = False


class BuildConfig(NamedTuple):
    commands: tuple[str, ...] | None = None  # None: the preset decides
    preset: Preset = "auto"
    timeout: float = 0  # seconds per build command; 0: no limit
    share_static: ShareStatic = "auto"
    # Builds share the cores and disk with the live app: by default they yield to it.
    nice: int = 10  # added to our own nice level; 0: unchanged
    io_class: IoClass = "best-effort"  # "best-effort": its lowest level (7); "idle"; "none"
    cpu_limit: str = ""  # e.g. "50%" (100% is one core), via systemd-run; "": none


class SharedConfig(NamedTuple):
    files: tuple[str, ...] = ()  # normalised relative paths inside shared/
    dirs: tuple[str, ...] = ()

    @property
    def entries(self) -> tuple[str, ...]:
        return self.files + self.dirs


class RestartConfig(NamedTuple):
    command: str = ""  # "": no restart
    timeout: float = 300  # seconds; 0: no limit


class HealthConfig(NamedTuple):
    url: str = ""  # "": no health check
    status: int = 200
    timeout: float = 60  # seconds for the whole check
    interval: float = 1  # seconds between attempts
    check_build_id: bool = True


class HooksConfig(NamedTuple):
    before_build: tuple[str, ...] = ()
    after_build: tuple[str, ...] = ()
    before_switch: tuple[str, ...] = ()
    after_switch: tuple[str, ...] = ()
    after_rollback: tuple[str, ...] = ()
    on_failure: tuple[str, ...] = ()
    timeout: float = 0  # seconds per hook command (its process group is killed); 0: no limit
    # Reload mode's watch after a flip ([serve] watch): run every [analysis] interval in the
    # live release; one exiting non-zero switches back.
    check: tuple[str, ...] = ()

    def at(self, point: HookPoint) -> tuple[str, ...]:
        by_point: dict[HookPoint, tuple[str, ...]] = {
            "before_build": self.before_build,
            "after_build": self.after_build,
            "before_switch": self.before_switch,
            "after_switch": self.after_switch,
            "after_rollback": self.after_rollback,
            "on_failure": self.on_failure,
        }
        return by_point[point]


MigrationsPolicy = Literal["warn", "refuse"]
NotifyFormat = Literal["auto", "slack", "discord", "json"]


class MigrationsConfig(NamedTuple):
    paths: tuple[str, ...] = ()  # relative paths in a release whose digest each release records
    rollback: MigrationsPolicy = "warn"  # when the digests differ: warn, or refuse without --force


class NotifyConfig(NamedTuple):
    urls: tuple[str, ...] = ()  # webhook URLs (secrets: prefer url_env or url_file)
    url_env: str = "RELEASES_NOTIFY_URL"  # environment variable with more URLs (one per line)
    url_file: str = ""  # file in shared/ with more URLs, one per line ("": none)
    format: NotifyFormat = "auto"  # auto: by host (Slack, Discord), else plain JSON
    timeout: float = 3  # seconds for all notifications of a command, one retry included


NEXT_START = ("node_modules/next/dist/bin/next", "start", "-p", "{port}", "-H", "127.0.0.1")


class ServeConfig(NamedTuple):
    """How the app is served: `reload` (the restart command reloads it in place) or
    `blue-green` (one PM2 app per release on its own port, nginx flipped between them)."""

    mode: ServeMode = "reload"
    app: str = ""  # PM2 name prefix + nginx names; "": the deploy root's directory name
    ports: str = "3100-3199"  # inclusive range the releases' apps listen on (checked)
    instances: int = 2
    exec_mode: ExecMode = "cluster"
    start: tuple[str, ...] = NEXT_START  # script (relative to the release) + args; {port}
    interpreter: str = "node"  # "none": run the script itself (PM2's `interpreter`)
    env: tuple[tuple[str, str], ...] = ()  # the app's environment (beside NODE_ENV, PORT)
    grace: float = 900  # seconds the previous release stays warm; 0: stop once drained
    health_path: str = "/"  # asked on the release's own port before any traffic goes there
    # Before a flip, the target is sent these GETs on its own port (serving/warmup.py).
    warmup_paths: tuple[str, ...] = ()  # beside health_path
    warmup_requests: int = 40  # in all, spread over the paths; 0: no warm-up
    warmup_seconds: float = 10  # at most, however many were sent
    warmup_concurrency: int = 4
    start_timeout: float = 60  # seconds for a started app to answer health_path
    drain_timeout: float = 30  # seconds to wait for connections to an app to end
    include: str = ""  # the generated nginx include; "": .releases/serve/nginx.conf
    nginx_config: str = "/etc/nginx/nginx.conf"  # the file that includes `include`
    nginx_test: tuple[str, ...] = ("nginx", "-t", "-q", "-c", "{config}")
    nginx_reload: tuple[str, ...] = ("nginx", "-s", "reload")
    pm2: str = "pm2"  # the PM2 command (PATH is searched)
    url: str = ""  # the site through nginx: after a reload, wait until it routes the new live
    # Canary stages: (share of visitors in %, seconds; None: the stage lasts `watch`); (): none.
    canary: tuple[tuple[int, float | None], ...] = ()
    watch: float = 0  # seconds of analysis after any flip; 0: none

    @property
    def blue_green(self) -> bool:
        return self.mode == "blue-green"

    @property
    def port_range(self) -> tuple[int, int]:
        low, _, high = self.ports.partition("-")
        return int(low), int(high)


class AnalysisConfig(NamedTuple):
    """How a canary (and the watch after a flip) is judged from nginx's access log."""

    max_error_rate: float = 0.01  # a 5xx share above this can fail the canary...
    error_ratio: float = 2.0  # ... when it is also more than this times the stable's
    p95_ratio: float = 1.5  # a p95 request time above this times the stable's fails it
    min_requests: int = 50  # per release in the window before any decision
    interval: float = 5  # seconds between looks at the log


class Flags(NamedTuple):
    """Command-line values that override releases.toml; None: the flag was not given."""

    keep: int | None = None
    source: str | None = None
    repo: str | None = None
    ref: str | None = None
    build: Sequence[str] | None = None
    preset: str | None = None
    restart: str | None = None
    health_url: str | None = None
    canary: str | None = None
    watch: str | None = None


class Config(NamedTuple):
    """The effective settings: releases.toml's values over the defaults, flags over both."""

    keep: int = 5
    source: SourceConfig = SourceConfig()
    build: BuildConfig = BuildConfig()
    shared: SharedConfig = SharedConfig()
    restart: RestartConfig = RestartConfig()
    health: HealthConfig = HealthConfig()
    hooks: HooksConfig = HooksConfig()
    migrations: MigrationsConfig = MigrationsConfig()
    notify: NotifyConfig = NotifyConfig()
    serve: ServeConfig = ServeConfig()
    analysis: AnalysisConfig = AnalysisConfig()

    def with_flags(self, flags: Flags) -> Config:
        """The flags that were given, checked by the file's readers, replacing its values."""
        source, build, restart, health = self.source, self.build, self.restart, self.health
        serve = self.serve
        if flags.source is not None or flags.repo is not None:
            # A flag picks the kind of source, so it also drops the other kind set in the file.
            source = source._replace(
                path=flag("--source (source.path)", values.text, flags.source, ""),
                repo=flag("--repo (source.repo)", values.text, flags.repo, ""),
            )
        commands = flag("--build (build.commands)", values.commands, flags.build, build.commands)
        preset = flag("--preset (build.preset)", values.preset, flags.preset, build.preset)
        command = flag("--restart (restart.command)", values.text, flags.restart, restart.command)
        url = flag("--health-url (health.url)", values.url, flags.health_url, health.url)
        return self._replace(
            keep=flag("--keep (keep)", values.keep, flags.keep, self.keep),
            source=source._replace(
                ref=flag("--ref (source.ref)", values.text, flags.ref, source.ref)
            ),
            build=build._replace(commands=commands, preset=preset),
            restart=restart._replace(command=command),
            health=health._replace(url=url),
            serve=self.serve._replace(
                canary=flag("--canary (serve.canary)", values.canary, flags.canary, serve.canary),
                watch=flag("--watch (serve.watch)", values.duration, flags.watch, serve.watch),
            ),
        )


def flag(name: str, read: Callable[[object], T], given: object | None, current: T) -> T:
    """A flag's value through its key's reader (InvalidInput naming the flag), or `current`
    when the flag was not given."""
    if given is None:
        return current
    try:
        return read(given)
    except values.Invalid as error:
        raise InvalidInput(f"{name} {error.message}") from None
