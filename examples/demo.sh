#!/usr/bin/env bash
# `make demo`: deploy the bundled example three times into a git-ignored deploy root, show the
# list, roll back, and show what is live. Every step is the real CLI.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
releases="$here/.venv/bin/releases"
demo="$here/.demo/static"
rm -rf "$demo"
mkdir -p "$demo/root"
cp -a "$here/examples/static" "$demo/app"
export RELEASES_ROOT="$demo/root"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "releases init"
"$releases" init
for version in v1 v2 v3; do
  sed -i "s/Version: v[0-9]*/Version: $version/" "$demo/app/public/index.html"
  step "releases deploy ($version)"
  "$releases" deploy --source "$demo/app" --build "sh build.sh" --keep 2
  echo "current serves: $(grep -o 'Version: v[0-9]*' "$demo/root/current/dist/index.html")"
done
step "a broken build never goes live"
"$releases" deploy --source "$demo/app" --build "sh -c 'echo compile error; exit 1'" || echo "(exit code $?: current unchanged)"
step "releases list"
"$releases" list
step "releases rollback"
"$releases" rollback
echo "current serves: $(grep -o 'Version: v[0-9]*' "$demo/root/current/dist/index.html")"
step "releases status"
"$releases" status
