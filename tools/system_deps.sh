#!/usr/bin/env bash
# What `make test` needs from the system, beyond the virtualenv: Debian's Chromium (the Web UI
# test drives it headless) and poppler's pdftoppm (the PDF tests render pages). Installed with
# apt-get when run as root; otherwise a loud failure naming the command, never a silent skip.
set -euo pipefail
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v pdftoppm >/dev/null || missing+=(poppler-utils)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "make test: installing ${missing[*]} with apt-get (the Web UI and PDF tests need them)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "make test needs ${missing[*]}: run  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
