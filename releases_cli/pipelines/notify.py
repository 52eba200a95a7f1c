"""Webhook notifications ([notify]): after a deploy, stage's switch or rollback is durable (its
history lines are written), one POST per URL saying what happened.

What to say comes from the history the command wrote, so a notice never claims more than the
record does. Bodies: Slack (`{"text": ...}`), Discord (`{"content": ...}`) or plain JSON (a
NoticeJson); `format = "auto"` picks by the URL's host. Every URL is tried twice at most, all of
them at once, within one deadline (`timeout`); whatever has not answered by then is abandoned.
A failure is a warning: it never changes the command's outcome or exit code.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, TypedDict

from releases_cli.config import NotifyConfig, values
from releases_cli.config.sections import NotifyFormat
from releases_cli.core import safefs
from releases_cli.core.errors import ReleasesError
from releases_cli.core.events import (
    CanaryAborted,
    DeployFailed,
    DeployFinished,
    Event,
    Payload,
    Switch,
    SwitchFinished,
    SwitchReason,
    WatchFailed,
    read_history,
)
from releases_cli.core.layout import DeployRoot
from releases_cli.core.meta import read_meta

if TYPE_CHECKING:
    from urllib.request import OpenerDirector

URL_FILE_LIMIT = 64 << 10
Warn = Callable[[str], None]


class NoticeJson(TypedDict):
    """The body of a plain-JSON notification (format "json")."""

    event: str  # deploy finished / deploy failed / automatic switch-back / rollback / switch
    summary: str  # the command's summary line (or its error)
    release: str | None
    previous: str | None
    revision: str | None
    user: str | None
    host: str | None
    seconds: float | None
    message: str | None  # the command's -m
    root: str


class Notice(NamedTuple):
    body: NoticeJson

    def text(self) -> str:
        """One line for a chat: `[web1] deploy finished: <summary> (by ann, 12.3s): "why"`."""
        b = self.body
        facts = [f"by {b['user'] or '?'}"]
        if b["revision"]:
            facts.insert(0, f"rev {b['revision'][:7]}")
        if b["seconds"] is not None:
            facts.append(f"{b['seconds']:.1f}s")
        note = f': "{b["message"]}"' if b["message"] else ""
        return f"[{b['host'] or '?'}] {b['event']}: {b['summary']} ({', '.join(facts)}){note}"


# What a command's events say, most telling first: one notice per command.
_RANKED: tuple[tuple[type, int, str], ...] = (
    (CanaryAborted, 0, "canary aborted"),
    (WatchFailed, 0, "watch failed: switched back"),
    (DeployFailed, 1, "deploy failed"),
    (DeployFinished, 2, "deploy finished"),
    (SwitchFinished, 4, "switch finished"),
)


def _kind(payload: Payload | None) -> tuple[int, str] | None:
    if isinstance(payload, Switch):
        if payload.automatic:
            return 0, "automatic switch-back"
        return (3, "rollback") if payload.reason == SwitchReason.ROLLBACK else None
    for kind, rank, name in _RANKED:
        if isinstance(payload, kind):
            return rank, name
    return None


def notice_of(root: DeployRoot, events: Sequence[Event], summary: str) -> Notice | None:
    """The notice for the events one command wrote, or None when none is worth sending."""
    ranked = [(kind, e) for e in events if (kind := _kind(e.payload)) is not None]
    if not ranked:
        return None
    (_, name), event = min(ranked, key=lambda item: item[0][0])
    release = event.release_id
    meta = read_meta(root, release) if release else None
    payload = event.payload
    seconds = getattr(payload, "seconds", None)
    message = next((e.message for e in events if e.message), None)
    body: NoticeJson = {
        "event": name,
        "summary": summary,
        "release": release,
        "previous": getattr(payload, "previous", None),
        "revision": meta.source.get("revision") if meta else None,
        "user": event.user,
        "host": event.host,
        "seconds": seconds if isinstance(seconds, float | int) else None,
        "message": message,
        "root": str(root.path),
    }
    return Notice(body)


def format_of(url: str, wanted: NotifyFormat) -> NotifyFormat:
    if wanted != "auto":
        return wanted
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    if host == "hooks.slack.com":
        return "slack"
    if host.endswith(("discord.com", "discordapp.com")) and "/api/webhooks/" in parts.path:
        return "discord"
    return "json"


def body_for(notice: Notice, fmt: NotifyFormat) -> bytes:
    if fmt == "slack":
        return json.dumps({"text": notice.text()}).encode()
    if fmt == "discord":
        return json.dumps({"content": notice.text()[:2000]}).encode()  # Discord's limit
    return json.dumps(notice.body).encode()


def shown(url: str) -> str:
    """A webhook URL without its secret part (the path and query of a Slack URL are a key)."""
    try:
        parts = urllib.parse.urlsplit(url)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…"
    except ValueError:
        return "an unparsable URL"


def _lines(text: str) -> list[str]:
    return [s for line in text.splitlines() if (s := line.strip()) and not s.startswith("#")]


def webhook_urls(
    root: DeployRoot, settings: NotifyConfig, env: dict[str, str], warn: Warn
) -> list[str]:
    """The URLs of releases.toml, then the environment variable's, then the shared file's (read
    as data: a regular file, no link followed, at most 64 KiB). A bad one is warned about."""
    found = list(settings.urls)
    given = _lines(env.get(settings.url_env, "")) if settings.url_env else []
    if settings.url_file:
        try:
            data = safefs.read_file(root.shared, settings.url_file, URL_FILE_LIMIT)
            given += _lines(data.decode("utf-8", "replace"))
        except FileNotFoundError:
            warn(f"warning: notify.url_file: {root.shared / settings.url_file} does not exist")
        except OSError as error:
            warn(f"warning: notify.url_file: {safefs.describe(error)}; not read")
    for url in given:
        try:
            found.append(values.url(url))
        except values.Invalid:
            why = "not an http(s) URL with a host, without user:pass@"
            warn(f"warning: notify: skipped {shown(url)}: {why}")
    return list(dict.fromkeys(u for u in found if u))


def _opener() -> OpenerDirector:
    """urllib without redirects: a 3xx is an answer, not a delivery (urllib would re-send a
    POST as a GET without its body, to a place nobody configured)."""
    import urllib.request  # only when there is something to send: rollback starts fast

    class NoRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *_args: object, **_kwargs: object) -> None:
            return None

    return urllib.request.build_opener(NoRedirects)


def _post(url: str, data: bytes, deadline: float, errors: dict[str, str]) -> None:
    import urllib.error
    import urllib.request

    for _attempt in range(2):  # one retry
        left = deadline - time.monotonic()
        if left <= 0:
            return
        request = urllib.request.Request(  # noqa: S310 (an http(s) URL: values.url)
            url,
            data=data,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "releases"},
        )
        try:
            with _opener().open(request, timeout=left) as answer:
                answer.read(64 << 10)
            errors.pop(url, None)
            return
        except urllib.error.HTTPError as error:
            moved = " (a redirect: not followed, not delivered)" if 300 <= error.code < 400 else ""
            errors[url] = f"HTTP {error.code}{moved}"
        except (OSError, ValueError) as error:
            errors[url] = str(getattr(error, "reason", error))


def send(notice: Notice, urls: Sequence[str], settings: NotifyConfig, warn: Warn) -> int:
    """POST `notice` to every URL at once, within `settings.timeout`; how many succeeded. Each
    failed or unanswered URL is one warning."""
    deadline = time.monotonic() + settings.timeout
    errors: dict[str, str] = dict.fromkeys(urls, "no answer")
    threads = []
    for url in urls:
        data = body_for(notice, format_of(url, settings.format))
        thread = threading.Thread(target=_post, args=(url, data, deadline, errors), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    failed = dict(errors)  # a late answer must not change what we report
    for url, why in failed.items():
        reason = why if why != "no answer" else f"no answer within {settings.timeout:g}s"
        event = notice.body["event"]
        warn(f"warning: notification to {shown(url)} failed ({reason}); the {event} stands")
    return len(urls) - len(failed)


@dataclass
class Outcome:
    """Filled in by the command: its summary line (an error's message is taken by itself)."""

    summary: str = ""


@contextmanager
def notifying(
    root: DeployRoot, settings: NotifyConfig, env: dict[str, str], warn: Warn
) -> Iterator[Outcome]:
    """Run a command, then notify about what it recorded (on success and on a reported
    failure alike). Nothing is read or sent when no URL is configured."""
    urls = webhook_urls(root, settings, env, warn)
    outcome = Outcome()
    if not urls:
        yield outcome
        return
    before = len(read_history(root).events)
    try:
        yield outcome
    except ReleasesError as error:
        outcome.summary = error.message
        _notify(root, before, outcome, urls, settings, warn)
        raise
    _notify(root, before, outcome, urls, settings, warn)


def _notify(
    root: DeployRoot,
    before: int,
    outcome: Outcome,
    urls: Sequence[str],
    settings: NotifyConfig,
    warn: Warn,
) -> None:
    events = read_history(root).events[before:]
    notice = notice_of(root, events, outcome.summary)
    if notice is not None:
        send(notice, urls, settings, warn)
