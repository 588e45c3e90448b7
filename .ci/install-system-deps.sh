#!/usr/bin/env bash
# Debian packages the test suite and the grader use: bubblewrap (the autograder's sandbox), headless
# Chromium (the browser test of the built book) and a Korean font (so screenshots of the bilingual
# glossary show Hangul instead of empty boxes). `make system-deps` runs this; `make test` never does
# (it only checks, through tests/prerequisites.py). Installs only what is missing, never asks for a
# password (sudo -n), and exits non-zero with one line naming the packages when it cannot install them.
set -euo pipefail
packages=(bubblewrap chromium fonts-nanum)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo -n"; else sudo=none; fi
if [ "$sudo" = none ] || ! command -v apt-get >/dev/null; then
  echo "system-deps: cannot install ${missing[*]} here: install them as root (Debian/Ubuntu: apt-get install ${missing[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null || true
if ! $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
  echo "system-deps: apt-get could not install ${missing[*]}" >&2
  exit 1
fi
