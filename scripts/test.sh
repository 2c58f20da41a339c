#!/usr/bin/env bash
# Install everything, then run the whole test suite (lint, types, tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export PATH="$PWD/.venv/bin:$PATH"
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"  # the window tests draw off screen
echo "[test] ruff"
LINT_DIRS=$(ls -d src tests benchmarks docs/examples 2>/dev/null || true)
ruff check $LINT_DIRS
ruff format --check $LINT_DIRS
echo "[test] mypy"
mypy
echo "[test] pytest"
python -m pytest -q -p no:cacheprovider "$@"
