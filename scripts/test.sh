#!/usr/bin/env bash
# Install qabot with its test dependencies into .venv, lint and type-check, and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
# torch first, pinned to the local CPU wheel: sentence-transformers would otherwise pull CUDA builds
.venv/bin/pip install --quiet --disable-pip-version-check torch==2.13.0
.venv/bin/pip install --quiet --disable-pip-version-check -e ".[test]"
# Headless Chromium for the chat-page test (Debian's package); without it that test skips.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "could not install chromium: browser tests will skip"
fi
# The CJK font the OCR and PDF tests render pages with (Debian's package); without it they skip.
if [ ! -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-zenhei >/dev/null) \
        || echo "could not install fonts-wqy-zenhei: OCR and PDF tests will skip"
fi
# Lint, format and type checks before the tests; any finding fails the run (config: pyproject.toml).
.venv/bin/ruff check bot retrieval tests bench
.venv/bin/ruff format --check bot retrieval tests bench
.venv/bin/mypy bot retrieval
exec .venv/bin/python -m pytest -q "$@"
