"""Which git URLs and refs we hand to git, and the environment git runs in.

Pure checks, run before anything touches the disk or the network. Refused: remote helpers that
run commands (`ext::`, `fd::`, any `<transport>::<address>`), schemes other than https, http,
ssh, git and file, anything starting with `-` (git or ssh would read it as an option:
`--upload-pack=...`, `-oProxyCommand=...`), and control characters. The environment adds
git's own protocol allow-list as a second, independent layer.
"""

from __future__ import annotations

import os
import re

from releases_cli.core.errors import InvalidInput

SAFE_SCHEMES = frozenset({"https", "http", "ssh", "git", "file", "git+ssh", "ssh+git"})
# git's names for the same set; plain paths and scp-like addresses count as file and ssh.
ALLOW_PROTOCOL = "https:http:ssh:git:file"

_HELPER = re.compile(r"^([A-Za-z0-9][A-Za-z0-9+.-]*)::")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_HEX = re.compile(r"[0-9a-fA-F]{4,40}")
_REF_FORBIDDEN = frozenset(" ~^:?*[\\")


def _has_control(text: str) -> bool:
    return any(ord(char) < 0x20 or ord(char) == 0x7F for char in text)


def _refuse_url(url: str, why: str) -> InvalidInput:
    return InvalidInput(f"refusing repository URL {redact(url)!r}: {why}")


def check_url(url: str) -> str:
    """Return `url` if it is safe to give to git, else raise InvalidInput (exit 3)."""
    if not url:
        raise InvalidInput("the repository URL is empty")
    if _has_control(url):
        raise _refuse_url(url, "it contains control characters")
    if url.startswith("-"):
        raise _refuse_url(url, "it starts with '-' and would be read as an option")
    helper = _HELPER.match(url)
    if helper:
        raise _refuse_url(
            url,
            f"the {helper.group(1)}:: transport runs commands or helper programs; "
            "use https://, ssh://, git://, file://, user@host:path or a local path",
        )
    scheme = _SCHEME.match(url)
    if scheme:
        name = scheme.group(1).lower()
        if name not in SAFE_SCHEMES:
            raise _refuse_url(
                url, f"scheme {name}:// is not allowed (https, http, ssh, git, file only)"
            )
        if name != "file":
            _check_authority(url, url[scheme.end() :].split("/", 1)[0])
        return url
    if is_scp_like(url):
        _check_authority(url, url.split(":", 1)[0])
    return url


def _check_authority(url: str, authority: str) -> None:
    """A host or user starting with '-' would reach ssh as an option (CVE-2017-1000117)."""
    user, _, host = authority.rpartition("@")
    if not host:
        raise _refuse_url(url, "it names no host")
    if host.startswith("-") or user.startswith("-"):
        raise _refuse_url(url, "its host or user starts with '-' and would be read as an option")


def is_scp_like(url: str) -> bool:
    """git's rule: `host:path` is ssh when a colon comes before any slash (and no `://`)."""
    colon = url.find(":")
    slash = url.find("/")
    return colon > 0 and (slash == -1 or colon < slash) and "://" not in url


def absolute_url(url: str) -> str:
    """A plain local path made absolute: git runs inside the mirror, where a relative path would
    mean something else. URLs and scp-like addresses are returned as they are."""
    if not url or url.startswith("-") or _SCHEME.match(url) or is_scp_like(url):
        return url
    return os.path.abspath(os.path.expanduser(url))


def check_ref(ref: str) -> str:
    """Return `ref` (a branch, tag or commit sha) if it is a plain name, else raise InvalidInput.

    Revision expressions (`main~1`, `@{u}`) are refused too: a deploy names one commit plainly.
    """
    why = None
    if not ref:
        why = "it is empty"
    elif ref.startswith("-"):
        why = "it starts with '-' and would be read as an option"
    elif _has_control(ref) or any(char in _REF_FORBIDDEN for char in ref):
        why = "it contains a space, control character or one of ~^:?*[\\"
    elif ".." in ref or "@{" in ref or "//" in ref:
        why = "it contains '..', '@{' or '//'"
    elif ref.startswith(("/", ".")) or ref.endswith(("/", ".", ".lock")):
        why = "it starts with '/' or '.', or ends with '/', '.' or '.lock'"
    if why:
        raise InvalidInput(f"refusing ref {ref!r}: {why}")
    return ref


def looks_like_sha(ref: str) -> bool:
    return bool(_HEX.fullmatch(ref))


def redact(url: str) -> str:
    """The URL without a password or token (`https://user:secret@host` -> `https://user:***@host`)."""
    scheme = _SCHEME.match(url)
    if not scheme:
        return url
    rest = url[scheme.end() :]
    authority, slash, path = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{url[: scheme.end()]}{user}:***@{host}{slash}{path}"


def git_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Variables added to every git command we run, on top of the user's environment.

    GIT_ALLOW_PROTOCOL makes git itself refuse every other transport even if a check above
    were wrong; protocol.ext.allow=never is added through GIT_CONFIG_* (after any the user
    set). GIT_SSH_COMMAND, SSH_AUTH_SOCK and credential helpers pass through untouched, so
    private repositories work with the user's own setup. Without a terminal prompt a missing
    credential fails at once instead of hanging while the deploy lock is held.
    """
    environ = os.environ if base is None else base
    try:
        count = max(int(environ.get("GIT_CONFIG_COUNT", "0")), 0)
    except ValueError:
        count = 0
    return {
        "GIT_ALLOW_PROTOCOL": ALLOW_PROTOCOL,
        "GIT_TERMINAL_PROMPT": environ.get("GIT_TERMINAL_PROMPT", "0"),
        "GIT_CONFIG_COUNT": str(count + 1),
        f"GIT_CONFIG_KEY_{count}": "protocol.ext.allow",
        f"GIT_CONFIG_VALUE_{count}": "never",
    }
