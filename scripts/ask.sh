#!/usr/bin/env bash
# Install qabot into .venv and answer a question from seeds/ (the first run builds the index).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -e .
exec .venv/bin/qabot ask "${@:-吉安市有多少家单位入选全省“六有六规范”工会示范点？}"
