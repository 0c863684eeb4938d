#!/usr/bin/env bash
# What captioning and speech need from the system, installed once (Debian/Ubuntu, as root):
#   dataset-fashion-mnist  the real Fashion-MNIST photos (/usr/share/datasets/fashion-mnist),
#                          for configs/captioning.py:dataset=fashion; nothing is downloaded
#                          at run time
#   a Java runtime         the COCO scorer's METEOR (without one, METEOR is skipped with a
#                          warning and the other metrics are reported)
#   flite, espeak-ng       the voices that speak configs/speech.py's questions (offline
#                          speech synthesis: flite's voices were built from recorded speakers)
#
#   sudo scripts/install_system_data.sh
set -euo pipefail

missing=()
[[ -d /usr/share/datasets/fashion-mnist ]] || missing+=(dataset-fashion-mnist)
command -v java >/dev/null || missing+=(default-jre-headless)
command -v flite >/dev/null || missing+=(flite)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "error: installing ${missing[*]} needs root (sudo $0)" >&2
  exit 2
fi
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
