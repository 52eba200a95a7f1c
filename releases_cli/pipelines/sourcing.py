"""The options a build runs with (deploy, stage, pack): releases.toml + the flags, and the one
source they name (a directory, a git repository or an artifact), checked before any work."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from releases_cli import config as config_mod
from releases_cli.core.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from releases_cli.config import Flags, SourceConfig
    from releases_cli.core.layout import DeployRoot
    from releases_cli.pipelines.stage import DeployOptions
    from releases_cli.sources.base import Source

# The flags an artifact, built already, cannot take: (flag, Flags field).
_BUILD_FLAGS = (
    ("--source", "source"),
    ("--repo", "repo"),
    ("--ref", "ref"),
    ("--build", "build"),
    ("--preset", "preset"),
)


def deploy_options(
    deploy_root: DeployRoot, flags: Flags, wait: float, artifact: str | None = None
) -> DeployOptions:
    """releases.toml + the flags that build a release (shared by deploy, stage and pack)."""
    from releases_cli.pipelines.canary import stages_of
    from releases_cli.pipelines.publish import live_options
    from releases_cli.pipelines.stage import DeployOptions

    if flags.source is not None and flags.repo is not None:
        raise InvalidInput("--source and --repo are mutually exclusive: pass one of them")
    given = [name for name, value in _BUILD_FLAGS if getattr(flags, value) is not None]
    if artifact is not None and given:
        raise InvalidInput(f"--artifact is built already: it takes no {given[0]}")
    cfg = config_mod.load(deploy_root).with_flags(flags)
    return DeployOptions(
        source=_source(cfg.source) if artifact is None else _artifact(artifact),
        build=cfg.build,
        shared=cfg.shared,
        keep=cfg.keep,
        wait=wait,
        live=live_options(cfg),
        migrations=cfg.migrations,
        canary=stages_of(cfg.serve.canary, cfg.serve.watch),
        analysis=cfg.analysis,
        watch=cfg.serve.watch,
    )


def _source(settings: SourceConfig) -> Source:
    """The source the settings name: a directory, or a git repository (loads gitpython)."""
    if settings.path and settings.repo:
        raise InvalidInput(
            "releases.toml sets both source.path and source.repo; keep one "
            "(or pass --source or --repo)"
        )
    if settings.repo:
        from releases_cli.sources.git.source import GitSource

        return GitSource(settings.repo, settings.ref or None, settings.submodules)
    if settings.ref:
        raise InvalidInput("--ref (source.ref) needs a git source: pass --repo URL")
    if not settings.path:
        raise NotFound(
            "no source: pass --source DIR or --repo URL (or set [source] path or repo "
            "in releases.toml)"
        )
    from releases_cli.sources.local import LocalSource

    return LocalSource(Path(settings.path))


def _artifact(location: str) -> Source:
    from releases_cli.sources.artifact.source import ArtifactSource

    return ArtifactSource(location)
