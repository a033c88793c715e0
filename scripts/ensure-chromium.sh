#!/usr/bin/env bash
# Installs Debian's Chromium (and its driver) with apt-get when /usr/bin/chromium is missing.
# The browser tests drive it through playwright's Python client with executable_path, so
# no browser build is ever downloaded (never run `playwright install`). Needs root or sudo.
set -euo pipefail
if [[ -x /usr/bin/chromium ]]; then exit 0; fi
SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null
/usr/bin/chromium --version
