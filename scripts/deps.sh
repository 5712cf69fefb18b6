#!/usr/bin/env bash
# deps.sh — install the Debian packages utmem needs, and only those missing.
#
# Usage: scripts/deps.sh PACKAGE...
# Checks each package with dpkg-query; if any is missing, installs them with
# apt-get (root needed: otherwise it prints the command to run and fails).
# Runs `apt-get update` only when something must be installed.
set -euo pipefail

missing=()
for p in "$@"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "utmem: installing missing Debian packages: ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
	echo "utmem: not root; run as root, or first: apt-get install ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
