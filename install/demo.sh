#!/usr/bin/env bash
# Serve the API on the embedded default: an SQLite file and a sample repository under instance/, rate limits in
# memory. Creates .venv and config.py when absent, creates the tables, seeds the demo data once, mints a fresh
# demo token, prints how to call the API, then runs `python run.py` (API_HOST / API_PORT override 127.0.0.1:5000).
# Every step is skipped when already done, so rerunning it is cheap.
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$ROOT"

ensure_venv
install_requirements requirements.txt

if [ ! -f config.py ]; then
    say "creating config.py from config_sample.py (with a random API_SECRET_KEY)"
    "$VENV_PYTHON" - <<'PYTHON'
import re
import secrets

text = open('config_sample.py', encoding='utf-8').read()
line = f"API_SECRET_KEY = '{secrets.token_hex(32)}'"
text, count = re.subn(r"^API_SECRET_KEY = .*$", line, text, count=1, flags=re.MULTILINE)
if not count:
    text += f'\n{line}\n'
with open('config.py', 'x', encoding='utf-8') as config:
    config.write(text)
PYTHON
fi

"$VENV_PYTHON" -m install.demo_data
exec "$VENV_PYTHON" run.py
