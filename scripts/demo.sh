#!/usr/bin/env bash
# Install everything, then run the built-in demo (offline): separation, enhancement,
# voice activity and notes on a clip deepfx makes itself.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/deepfx demo "$@"
