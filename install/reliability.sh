#!/usr/bin/env bash
# The full reliability suite (issue #9): load bursts of 1,000 requests per budget against gunicorn (4 workers)
# with Redis rate limits, concurrent writes, and database / Redis / GCS / sample-repository faults injected
# through loopback fault proxies (the shared MariaDB and Redis are never stopped). Writes the figures of the run
# to mod_api/docs/reliability-results.md when every test passed. Needs what install/test.sh needs (MariaDB on
# 127.0.0.1:3306, Redis on 127.0.0.1:6379); API_TEST_BACKENDS=sqlite or =mysql narrows the backends.
# The default test run (install/test.sh) runs the same tests with bursts of 150 requests (see mod_api/docs/faults.md).
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$ROOT"

ensure_venv
install_requirements requirements-test.txt requirements.txt
API_RELIABILITY_FULL=1 exec "$VENV_PYTHON" -m pytest -m reliability mod_api_tests/reliability -p no:cacheprovider "$@"
