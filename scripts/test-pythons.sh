#!/usr/bin/env bash
# `make test-pythons`: the tool on every supported Python (3.10 to 3.13). For each version found
# (pyenv's ~/.pyenv/versions/3.1x.*/bin/python3.1x, then python3.1x on PATH), in a throwaway
# venv: install the package as a user would (`pip install .`, not editable, so the version's
# own dependencies such as tomli on 3.10 are what gets installed), check that the installed
# `releases` imports every module and answers --help for every command from outside the
# checkout, then run the fast suite (`pytest -m "not e2e"`; the tests run this checkout's code
# under that interpreter, through PYTHONPATH like `make test`). A version not found is named
# and skipped; the exit status is non-zero if one that was found fails, or if none was found.
#
#   scripts/test-pythons.sh                 # every version found
#   PYTHONS="3.10 3.13" scripts/test-pythons.sh
#   PYTEST_ARGS="-x -q" scripts/test-pythons.sh
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
versions="${PYTHONS:-3.10 3.11 3.12 3.13}"
pytest_args="${PYTEST_ARGS:--q}"

find_python() {
  local candidate
  for candidate in "$HOME"/.pyenv/versions/"$1".*/bin/python"$1"; do
    [ -x "$candidate" ] && { echo "$candidate"; return 0; }
  done
  candidate="$(command -v "python$1" 2>/dev/null)" || return 1
  # a pyenv shim answers for versions it does not have: ask the interpreter itself
  "$candidate" -c "import sys; assert sys.version_info[:2] == tuple(map(int, '$1'.split('.')))" \
    2>/dev/null && echo "$candidate"
}

run_one() {
  local python="$1" venv="$2"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$repo" \
    pytest hypothesis ansible-core  # ansible-core: tests/cli/test_ansible.py runs the playbooks
  # From outside the checkout, so that only the installed package can be imported.
  (cd "$venv" && "$venv/bin/python" - <<'PY'
import importlib, pkgutil, sys
import releases_cli
assert releases_cli.__file__.startswith(sys.prefix), releases_cli.__file__
# every module but __main__ (importing it runs the CLI)
names = [m.name for m in pkgutil.walk_packages(releases_cli.__path__, "releases_cli.")]
names = [name for name in names if not name.endswith(".__main__")]
for name in names:
    importlib.import_module(name)
print(f"imported {len(names)} modules from {releases_cli.__path__[0]}")
PY
  )
  (cd "$venv" && "$venv/bin/releases" --help >/dev/null)
  local command
  for command in $(cd "$venv" && "$venv/bin/python" -c '
from releases_cli.cli.app import app
import typer.main
group = typer.main.get_command(app)
print(" ".join(sorted(group.commands)))'); do
    (cd "$venv" && "$venv/bin/releases" "$command" --help >/dev/null)
  done
  # shellcheck disable=SC2086
  "$venv/bin/python" -m pytest -m "not e2e" -p no:cacheprovider $pytest_args
}

found=0 failed=() missing=()
for version in $versions; do
  if ! python="$(find_python "$version")"; then
    missing+=("$version")
    continue
  fi
  found=$((found + 1))
  echo "== Python $version: $python"
  venv="$(mktemp -d "${TMPDIR:-/tmp}/releases-py$version.XXXXXX")"
  if run_one "$python" "$venv/venv"; then
    echo "== Python $version: passed"
  else
    failed+=("$version")
    echo "== Python $version: FAILED"
  fi
  rm -rf "$venv"
done

[ ${#missing[@]} -eq 0 ] || echo "not found (not tested): Python ${missing[*]}"
[ ${#failed[@]} -eq 0 ] || { echo "failed: Python ${failed[*]}" >&2; exit 1; }
[ "$found" -gt 0 ] || { echo "no supported Python found (3.10 to 3.13)" >&2; exit 1; }
