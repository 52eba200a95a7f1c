#!/usr/bin/env bash
# The system packages a make target needs, installed before anything else runs: as root with
# apt-get, they are installed (no service is started); otherwise it stops at once, naming the
# one command to run. So `make test` never fails half-way for a missing program.
#
#   scripts/need-system.sh test   # the whole suite: nginx, Chromium, Capistrano + sshd, Node
#   scripts/need-system.sh demo   # make demo: nginx, Node
#
# Programs are looked up on PATH, then in $NEED_SYSTEM_SBIN (default: /usr/sbin /sbin, where
# nginx and sshd live). $APT_GET (default: apt-get) is the installer, $NEED_SYSTEM_POLICY the
# policy-rc.d it writes meanwhile; NEED_SYSTEM_INSTALL=0 only reports. These let tests drive
# this script without changing the machine.
set -euo pipefail

target="${1:?usage: need-system.sh test|demo}"
sbin_dirs="${NEED_SYSTEM_SBIN-/usr/sbin /sbin}"
apt_get="${APT_GET:-apt-get}"

have() {
  command -v "$1" >/dev/null 2>&1 && return 0
  local dir
  for dir in $sbin_dirs; do
    [ -x "$dir/$1" ] && return 0
  done
  return 1
}

# "program package" pairs per target; Node.js is not from Debian (Next.js wants Node 20).
case "$target" in
  test) wanted=("nginx nginx-light" "chromium chromium" "cap capistrano" "sshd openssh-server") ;;
  demo) wanted=("nginx nginx-light") ;;
  *) echo "need-system.sh: unknown target '$target' (test or demo)" >&2; exit 2 ;;
esac

if ! have node || ! have npm; then
  echo "make $target needs Node.js 20 and npm: install them (https://nodejs.org/en/download), then run make $target again" >&2
  exit 1
fi

missing=()
# The .venv every target installs into needs venv + ensurepip (a separate Debian package).
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
for pair in "${wanted[@]}"; do
  read -r program package <<<"$pair"
  have "$program" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

command="apt-get install -y ${missing[*]}"
if [ "${NEED_SYSTEM_INSTALL:-1}" = 0 ] || [ "$(id -u)" != 0 ] || ! have "$apt_get"; then
  echo "make $target needs ${missing[*]}: run 'sudo $command', then make $target again" >&2
  exit 1
fi

echo "make $target: installing ${missing[*]} with apt-get" >&2
# policy-rc.d 101: the packages' services (nginx, sshd) are installed but not started; the
# tests run their own instances on their own ports.
policy="${NEED_SYSTEM_POLICY:-/usr/sbin/policy-rc.d}"
own_policy=
if [ ! -e "$policy" ] && [ -w "${policy%/*}" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=1
fi
status=0
{ DEBIAN_FRONTEND=noninteractive "$apt_get" update -qq &&
  DEBIAN_FRONTEND=noninteractive "$apt_get" install -y -qq "${missing[@]}"; } || status=$?
[ -n "$own_policy" ] && rm -f "$policy"
if [ "$status" != 0 ]; then
  echo "make $target: apt-get failed (exit $status); run '$command' by hand" >&2
  exit 1
fi
