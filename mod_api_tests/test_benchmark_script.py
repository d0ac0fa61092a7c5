"""The benchmark (install/bench/benchmark.py) runs end to end at tiny scale, so the script cannot rot.

It serves the demo data with gunicorn (one worker), measures every endpoint with a handful of requests, and
writes its report; the ceiling route it adds exists only in its own wsgi module.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from mod_api.db import db
from mod_api.models import ApiToken

demo_data = pytest.importorskip('install.demo_data', reason='install/ is not part of a platform checkout')
ROOT = Path(__file__).resolve().parents[1]
ENDPOINTS = ('ceiling', 'runs (default page)', 'runs status=fail', 'runs by branch', 'runs sort=started_at',
             'run detail', 'run summary', 'run progress', 'run samples page 1', 'run samples deep page',
             'sample history', 'run errors', 'run error summary', 'diff', 'log page (middle of largest log)',
             'artifacts', 'queue', 'health')


def _run_benchmark(app, database_uri, tmp_path):
    """Seed the demo data, run the benchmark on it at tiny scale, and return its JSON and Markdown."""
    repository = app.config['SAMPLE_REPOSITORY']
    assert demo_data.seed(db.session, repository) is not None
    db.session.commit()
    output, raw = tmp_path / 'BENCHMARKS.md', tmp_path / 'bench.json'
    command = [sys.executable, '-m', 'install.bench.benchmark', '--uri', database_uri,
               '--repository', repository, '--workers', '1', '--clients', '2', '--requests', '3',
               '--warm-up', '1', '--output', str(output), '--json', str(raw)]
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert finished.returncode == 0, finished.stderr[-3000:]
    return json.loads(raw.read_text()), output.read_text()


def test_benchmark_end_to_end_at_tiny_scale(app, database_uri, tmp_path, make_app):
    result, markdown = _run_benchmark(app, database_uri, tmp_path)
    _check_measurements(result)
    _check_report(result, markdown)
    _check_token_revoked_and_ceiling_absent(make_app)


def _check_measurements(result):
    """Every endpoint answered 200 to every request, with latencies, memory and statement counts."""
    rows = {row['name']: row for row in result['endpoints']}
    assert tuple(rows) == ENDPOINTS
    for name, row in rows.items():
        assert row['statuses'] == {'200': 3}, name
        assert row['requests'] == 3 and row['requests_per_second'] > 0, name
        assert 0 < row['p50_ms'] <= row['p95_ms'] <= row['p99_ms'], name
        assert row['peak_rss_mb'] > 10, name
    # Every authenticated route looks its token up (health is public and asks the database whether it is up); the
    # token's last_used_at is written at most once a minute, which adds one statement to an occasional request.
    assert all(row['queries_max'] >= 1 for row in rows.values())
    assert rows['ceiling']['queries_median'] == 1 and rows['ceiling']['queries_max'] <= 2
    assert rows['run samples page 1']['queries_median'] == rows['run samples deep page']['queries_median']
    assert len(result['ceiling_runs']) == 2 and result['ceiling_rps'] > 0
    assert rows['runs (default page)']['ceiling_share'] == round(
        rows['runs (default page)']['requests_per_second'] / result['ceiling_rps'], 2)


def _check_report(result, markdown):
    """The report names the machine, the dataset and the command, and judges each row on its own targets."""
    assert result['machine']['nproc'] >= 1 and result['machine']['cpu']
    assert result['dataset']['runs'] == 12 and result['dataset']['log_bytes'] > 0
    assert result['setup']['rate-limit storage (health)'] == 'ok'
    assert '--workers 1' in result['command']
    rows = {row['name']: row for row in result['endpoints']}
    assert set(rows['run errors']['targets']) == {'all 200', 'p99<100ms', 'rss<150MB', 'p50<25ms', '>=50% ceiling'}
    assert 'p50<25ms' not in rows['diff']['targets']
    assert '>=80% of default list' in rows['runs status=fail']['targets']
    assert rows['runs status=fail']['targets']['all 200'] is True
    for name in ENDPOINTS:
        assert f'| {name} |' in markdown
    assert markdown.count('cursor=') == markdown.count('cursor=<middle of the log>') > 0


def _check_token_revoked_and_ceiling_absent(make_app):
    """The benchmark's token is revoked at the end; an app built the production way has no ceiling route."""
    tokens = db.session.execute(select(ApiToken).where(ApiToken.name.like('benchmark-%'))).scalars().all()
    assert len(tokens) == 1 and tokens[0].revoked_at is not None
    production = make_app()
    assert not [rule.rule for rule in production.url_map.iter_rules() if '/bench' in rule.rule]
