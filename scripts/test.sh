#!/usr/bin/env bash
# Install everything, then run the whole test suite (lint, types, tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "[test] ruff"
ruff check src tests benchmarks
ruff format --check src tests benchmarks
echo "[test] mypy"
mypy
echo "[test] pytest"
python -m pytest -q -p no:cacheprovider "$@"
