#!/usr/bin/env bash
# Debian packages the test suite uses: bubblewrap (the autograder's sandbox), headless Chromium
# (the browser test of the built book) and a Korean font (so the screenshots of the bilingual
# glossary show Hangul instead of empty boxes). Installs only what is missing; without root or sudo it
# prints what to install and exits 0 (the tests that need them then skip with a reason).
set -euo pipefail
packages=(bubblewrap chromium chromium-driver fonts-nanum)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo -n"; else sudo=none; fi
if [ "$sudo" = none ] || ! command -v apt-get >/dev/null; then
  echo "note: please install ${missing[*]} (Debian/Ubuntu: apt-get install ${missing[*]})" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null || true
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
  || echo "note: could not install ${missing[*]}; the tests that need them will skip" >&2
