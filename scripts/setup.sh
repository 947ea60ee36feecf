#!/usr/bin/env bash
# Installs what affect needs to build and run when it is missing (Debian/Ubuntu):
# OpenCV 4.6 headers and libraries, the Haar cascades, pkg-config, gcc and, with
# --test, Chromium for the dashboard's browser tests and ffmpeg for test videos
# and the served-stream tests (a real HTTP stream killed and frozen mid-session).
set -euo pipefail

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

pkgs=()
pkg-config --exists opencv4 2>/dev/null || pkgs+=(libopencv-dev)
[ -f /usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml ] || pkgs+=(opencv-data)
command -v pkg-config >/dev/null || pkgs+=(pkg-config)
command -v gcc >/dev/null || pkgs+=(gcc g++)
if [ "$want_test" = 1 ]; then
  command -v chromium >/dev/null || pkgs+=(chromium)
  command -v ffmpeg >/dev/null || pkgs+=(ffmpeg)
fi

if [ "${#pkgs[@]}" -gt 0 ]; then
  echo "setup: installing ${pkgs[*]} (Debian packages)" >&2
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root or sudo to install ${pkgs[*]}" >&2; exit 1; }
    sudo=sudo
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq || $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi
command -v go >/dev/null || { echo "setup: Go 1.26 or newer is needed: https://go.dev/dl/" >&2; exit 1; }
