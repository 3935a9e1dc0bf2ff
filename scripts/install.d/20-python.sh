#!/usr/bin/env bash
# A project-local virtualenv (.venv) with the Python test tools.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# The list of tools lives in one file so CI and developers install the same versions.
.venv/bin/python -m pip install -q --disable-pip-version-check -r scripts/requirements-dev.txt
