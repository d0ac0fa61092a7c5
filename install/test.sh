#!/usr/bin/env bash
# Run the whole test suite: ruff and mypy on mod_api (and on install/), then pytest over mod_api_tests, which
# runs every database test on SQLite and on MariaDB (127.0.0.1:3306, root without password) in the same run.
# Set API_TEST_BACKENDS=sqlite to skip MariaDB explicitly. Extra arguments are passed to pytest.
# The exit code is pytest's; when pytest passes but ruff or mypy found something, it is 1.
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$ROOT"

ensure_venv
install_requirements requirements-test.txt requirements.txt

lint_failed=0
say "ruff (configuration: install/ruff.toml)"
"$VENV/bin/ruff" check --config install/ruff.toml mod_api install || lint_failed=1
say "mypy (configuration: setup.cfg [mypy])"
"$VENV/bin/mypy" || lint_failed=1

port_open() { "$VENV_PYTHON" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2)' "$1" 2>/dev/null; }
case ",${API_TEST_BACKENDS:-sqlite,mysql}," in
    *,mysql,*) port_open 3306 || echo "warning: nothing answers on 127.0.0.1:3306; the MariaDB tests will fail (start MariaDB, or set API_TEST_BACKENDS=sqlite)" >&2 ;;
esac
port_open 6379 || echo "warning: nothing answers on 127.0.0.1:6379; tests that need Redis will fail" >&2

say "pytest"
status=0
"$VENV_PYTHON" -m pytest "$@" || status=$?
if [ "$status" -eq 0 ] && [ "$lint_failed" -ne 0 ]; then
    echo "pytest passed, but ruff or mypy reported findings (see above)" >&2
    status=1
fi
exit "$status"
