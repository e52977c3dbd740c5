#!/usr/bin/env bash
# Sets up xmodal in ./.venv. `scripts/setup.sh` for using it, `scripts/setup.sh --test` to also
# get what the test suite needs (espeak-ng, Chromium, pytest, Playwright).
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=0
[ "${1:-}" = "--test" ] && want_tests=1

packages=(ffmpeg)
[ "$want_tests" = 1 ] && packages+=(espeak-ng chromium fonts-dejavu-core fonts-liberation
    fonts-wqy-zenhei)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "please install: ${missing[*]} (e.g. sudo apt-get install ${missing[*]})" >&2
        exit 1
    fi
fi

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
# torch first, pinned, so the rest does not pull a different build.
.venv/bin/pip install -q torch==2.14.1 torchvision==0.29.1
extras="offline,fast"
[ "$want_tests" = 1 ] && extras="offline,fast,test"
.venv/bin/pip install -q -e ".[$extras]"
echo "xmodal is ready: .venv/bin/xmodal --help"
