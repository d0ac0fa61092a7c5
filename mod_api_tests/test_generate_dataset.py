"""The benchmark dataset generator (install/bench): deterministic rows with the legacy semantics, read by the API."""
import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import select

from mod_api.legacy import Base
from mod_api.resources.runs import RUN_STATUSES
from mod_api_tests.factories import bearer, make_token, make_user

generate_dataset = pytest.importorskip('install.bench.generate_dataset', reason='install/ is not part of a checkout')
dataset_shape = pytest.importorskip('install.bench.dataset_shape')

TINY = dataset_shape.Scale(runs=160, samples=15, regression_tests=40, categories=5, forks=6, logs=3,
                           max_log_bytes=120_000)


def _shape_digest(seed: int) -> str:
    """SHA-256 over every row the shape makes for ``seed`` at the tiny scale (catalogue, runs, finishing, files)."""
    shape = dataset_shape.DatasetShape(seed, TINY)
    digest = hashlib.sha256()
    catalogue = shape.catalogue()
    shape.plan_runs()
    for name in sorted(catalogue):
        digest.update(repr((name, catalogue[name])).encode())
    for block in shape.run_blocks(size=50):
        digest.update(repr(sorted(block.tables.items())).encode())
    digest.update(repr(shape.finishing()).encode())
    for relative, content in shape.repository_files(catalogue['regression_test_output'], catalogue['sample']):
        digest.update(relative.encode() + content)
    return digest.hexdigest()


def test_same_seed_same_rows_and_files_other_seed_other_rows():
    assert _shape_digest(1) == _shape_digest(1)
    assert _shape_digest(1) != _shape_digest(2)


def _rows_of(shape: Any) -> dict[str, list[dict[str, Any]]]:
    tables: dict[str, list[dict[str, Any]]] = {name: [] for name in dataset_shape.RUN_TABLES}
    for block in shape.run_blocks():
        for name, rows in block.tables.items():
            tables[name] += rows
    return tables


def test_rows_follow_the_legacy_semantics():
    shape = dataset_shape.DatasetShape(3, dataset_shape.Scale(runs=600, samples=30, regression_tests=120,
                                                              categories=8, forks=10, logs=0))
    catalogue = shape.catalogue()
    plans = {plan.id: plan for plan in shape.plan_runs()}
    rows = _rows_of(shape)
    outputs = {output['id']: output for output in catalogue['regression_test_output']}
    tests = {test['id']: test for test in catalogue['regression_test']}
    variants: dict[int, set[str]] = {}
    for variant in catalogue['regression_test_output_files']:
        variants.setdefault(variant['regression_test_output_id'], set()).add(variant['file_hashes'])
    categorised = {link['regression_id'] for link in catalogue['regression_test_category']}
    assert len(categorised) < len(tests) or len(tests) < 200  # a few uncategorised tests at production scale
    assert sum(1 for test in tests.values() if not test['active']) > 0
    assert all(1 <= sum(o['regression_id'] == test_id for o in outputs.values()) <= 3 for test_id in tests)

    scope: dict[int, set[int]] = {}
    for row in rows['customized_test']:
        scope.setdefault(row['test_id'], set()).add(row['regression_id'])
    for row in rows['test_result']:
        assert row['regression_test_id'] in scope[row['test_id']] & categorised
        assert row['expected_rc'] == tests[row['regression_test_id']]['expected_rc']  # the snapshot
    failing = {(row['test_id'], row['regression_test_id']) for row in rows['test_result']
               if row['exit_code'] != row['expected_rc']}
    for row in rows['test_result_file']:
        output = outputs[row['regression_test_output_id']]
        assert output['regression_id'] == row['regression_test_id'] and not output['ignore']
        assert row['expected'] == output['correct']
        if row['got'] is not None and row['got'] not in variants.get(output['id'], ()):
            failing.add((row['test_id'], row['regression_test_id']))
    assert 0.02 <= len(failing) / len(rows['test_result']) <= 0.05
    assert any(row['got'] in variants.get(row['regression_test_output_id'], ()) for row in rows['test_result_file'])

    last_status: dict[int, Any] = {}
    for row in rows['test_progress']:
        last_status[row['test_id']] = row
    endings = Counter(plan.ending for plan in plans.values())
    assert endings['completed'] > 0.8 * len(plans)
    assert {'queued', 'starting', 'preparation', 'testing', 'canceled_by_user', 'time_limit'} <= set(endings)
    queued = [run_id for run_id, plan in plans.items() if plan.ending == 'queued']
    assert queued and all(run_id not in last_status for run_id in queued)
    vm_runs = {row['test_id'] for row in rows['gcp_instance']}
    assert {run_id for run_id, plan in plans.items() if plan.ending == 'starting'} <= vm_runs - set(last_status)
    for run_id, plan in plans.items():
        if plan.ending == 'completed':
            assert last_status[run_id]['message'] == 'Ran all tests'


def _table_digest(uri: str) -> str:
    engine = sqlalchemy.create_engine(uri)
    digest = hashlib.sha256()
    with engine.connect() as connection:
        for name in generate_dataset.COUNTED_TABLES:
            table = Base.metadata.tables[name]
            ordered = select(table).order_by(*table.columns)
            digest.update(repr((name, [tuple(row) for row in connection.execute(ordered)])).encode())
    engine.dispose()
    return digest.hexdigest()


def _tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob('*')):
        if path.is_file():
            digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()


def test_generates_into_the_database_deterministically_and_the_api_reads_it(database_uri, make_app, tmp_path):
    first, second = tmp_path / 'first', tmp_path / 'second'
    report = generate_dataset.generate(database_uri, first, 5, TINY, say=lambda line: None)
    digest = _table_digest(database_uri)
    with pytest.raises(generate_dataset.DatabaseNotEmpty):
        generate_dataset.generate(database_uri, second, 5, TINY, say=lambda line: None)
    again = generate_dataset.generate(database_uri, second, 5, TINY, reset=True, say=lambda line: None)
    assert _table_digest(database_uri) == digest
    assert _tree_digest(first) == _tree_digest(second)
    assert again.rows == report.rows
    assert report.rows['test'] == TINY.runs
    assert report.rows['test_result'] > 0 and report.rows['test_result_file'] > 0
    assert max(report.log_bytes.values()) >= TINY.max_log_bytes * 0.9
    assert all(size >= 1000 for size in report.log_bytes.values())

    app = make_app(SAMPLE_REPOSITORY=str(first))
    with app.app_context():
        headers = bearer(make_token(make_user('admin')))
        client = app.test_client()
        listed = client.get('/api/v1/runs?limit=100', headers=headers)
        assert listed.status_code == 200
        assert listed.get_json()['pagination']['total'] == TINY.runs
        totals = {}
        for status in RUN_STATUSES:
            response = client.get(f'/api/v1/runs?status={status}&limit=1', headers=headers)
            assert response.status_code == 200
            totals[status] = response.get_json()['pagination']['total']
        assert sum(totals.values()) == TINY.runs
        assert {status for status, count in totals.items() if count} >= {'queued', 'running', 'pass', 'fail',
                                                                         'canceled', 'error'}
        failed = client.get('/api/v1/runs?status=fail&limit=1', headers=headers).get_json()['data'][0]['run_id']
        samples = client.get(f'/api/v1/runs/{failed}/samples?limit=100', headers=headers)
        assert samples.status_code == 200
        statuses = Counter(sample['status'] for sample in samples.get_json()['data'])
        assert statuses['pass'] > 0 and statuses['fail'] + statuses['missing_output'] > 0
        logged = max(report.log_bytes, key=report.log_bytes.__getitem__)
        log_page = client.get(f'/api/v1/runs/{logged}/logs?limit=100', headers=headers)
        assert log_page.status_code == 200 and len(log_page.get_json()['data']) == 100
