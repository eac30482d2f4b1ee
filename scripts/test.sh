#!/usr/bin/env bash
# Install minikube-py with its test tools, then run every check CI runs:
# ruff (lint), mypy (types), import-linter (the layer rules of DESIGN.md), and pytest
# (unit tests without root; node and e2e tests as root, with a leak sweep at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test
echo "==> ruff";          .venv/bin/ruff check .
echo "==> mypy";          .venv/bin/mypy explain netns bridge runtime minikube_py
echo "==> import-linter"; .venv/bin/lint-imports
echo "==> pytest";        .venv/bin/pytest -q "$@"
