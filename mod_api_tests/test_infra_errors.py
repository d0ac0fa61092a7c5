"""``GET /runs/{run_id}/infrastructure-errors``: progress rows classified, masked, with opt-in stacks.

The classification table is tested rule by rule (every rule has an example it must win, and the platform's own
messages of SCHEMA.md §5.1/§7/§8 are pinned); the endpoint on both backends.
"""
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mod_api.db import db
from mod_api.error_items import Severity
from mod_api.infra_errors import (
    EMPTY_MESSAGE,
    RULES,
    classify,
    infrastructure_errors,
    is_infrastructure_error,
    mask,
    masks,
)
from mod_api.legacy import TestStatus
from mod_api.resources.run_errors import ErrorPageSchema
from mod_api.verdicts import CANCELLATION_MESSAGES, ProgressRow
from mod_api_tests import factories
from mod_api_tests.run_errors_data import get_page
from mod_api_tests.runs_data import DONE, add_api_cancellation, add_progress, add_run
from mod_api_tests.test_run_data import counted_queries

URL = '/api/v1/runs/{}/infrastructure-errors'
INSTALL = '/srv/sample-platform'
PREPARATION = 'Loaded variables, created log file and checking for CCExtractor build artifact'
NOON = datetime(2024, 5, 17, 12)


# --- the classification table (no database) ------------------------------------------------------------------------

# (message, rule, type, severity): every rule's own example first, then the platform's messages.
EXAMPLES = [
    ('Could not complete test, time limit exceeded', 'time_limit', 'worker', 'error'),
    ('Cancelling tests as Github Action(s) failed', 'build_failed', 'build', 'error'),
    ('Build failed on windows: see the workflow run', 'build_failed', 'build', 'error'),
    ('Build succeeded but artifact not yet available - please retry', 'artifact_pending', 'build', 'warning'),
    ('artifact', 'artifact_missing_on_vm', 'storage', 'error'),
    (' artifact\n', 'artifact_missing_on_vm', 'storage', 'error'),
    ("ZONE_RESOURCE_POOL_EXHAUSTED: The zone 'projects/p/zones/us-west4-b' does not have enough resources",
     'gcp_capacity', 'vm_provisioning', 'critical'),
    ("QUOTA_EXCEEDED: Quota 'CPUS' exceeded. Limit: 24.0 in region us-west4.", 'gcp_capacity', 'vm_provisioning',
     'critical'),
    ('Failed to create VM linux-42: invalid machine type', 'gcp_vm', 'vm_provisioning', 'error'),
    ('Error creating GCP instance: startup script rejected', 'gcp_vm', 'vm_provisioning', 'error'),
    ('Could not find an artifact for this commit', 'artifact', 'build', 'error'),
    ('Failed to download artifact: HTTP 404', 'artifact', 'build', 'error'),
    ('Build workflow not found for this commit', 'artifact', 'build', 'error'),
    ('Invalid PR number', 'invalid_pr', 'queue', 'error'),
    ('PR is closed.', 'pr_closed', 'queue', 'info'),
    ('Pull request #12 was closed before the run started', 'pr_closed', 'queue', 'info'),
    ('Could not queue the run', 'queue', 'queue', 'error'),
    ('Duplicate Entries', 'duplicate_report', 'worker', 'error'),
    ('Merge conflict in src/lib_ccx/ccx_decoders_608.c', 'merge', 'merge', 'error'),
    ('PR #12 is not mergeable', 'merge', 'merge', 'error'),
    ('git checkout failed: unknown revision 0123abc', 'checkout', 'checkout', 'error'),
    ('Could not clone the fork', 'checkout', 'checkout', 'error'),
    ('Progress reporter answered HTTP 500', 'web_server', 'web_server', 'error'),
    ('HTTP Error 502: Bad Gateway', 'web_server', 'web_server', 'error'),
    ('Connection refused by sampleplatform.ccextractor.org', 'web_server', 'web_server', 'error'),
    ('gcsfuse: mount failed', 'storage', 'storage', 'error'),
    ('OSError: [Errno 28] No space left on device', 'storage', 'storage', 'error'),
    ("FileNotFoundError: [Errno 2] No such file or directory: 'TestAll.xml'", 'storage', 'storage', 'error'),
    ('Something we never heard of', 'unknown', 'worker', 'error'),
    ('', 'unknown', 'worker', 'error'),
    ('Segmentation fault (core dumped)', 'unknown', 'worker', 'error'),
]


@pytest.mark.parametrize(('message', 'rule', 'kind', 'severity'), EXAMPLES)
def test_the_classification_table(message: str, rule: str, kind: str, severity: str) -> None:
    matched = classify(message)

    assert (matched.name, matched.type, matched.severity.value) == (rule, kind, severity)


def test_every_rule_has_an_example_it_wins() -> None:
    assert {rule.name for rule in RULES} <= {example[1] for example in EXAMPLES}


def test_the_first_matching_rule_wins() -> None:
    # matches time_limit, gcp_vm, artifact and storage: the first in table order decides
    assert classify('time limit exceeded on VM while copying the artifact to the bucket').name == 'time_limit'
    assert classify('QUOTA_EXCEEDED for instance linux-4').name == 'gcp_capacity'


def test_types_are_the_contracts() -> None:
    contract = {'queue', 'vm_provisioning', 'checkout', 'merge', 'build', 'worker', 'web_server', 'storage'}

    assert {rule.type for rule in RULES} <= contract


def row(status: Any, message: str, row_id: int = 1, by_api: bool = False) -> ProgressRow:
    return ProgressRow(row_id, status, NOON, message, by_api)


@pytest.mark.parametrize('message', sorted(CANCELLATION_MESSAGES) + [' Canceled by user\n'])
def test_cancellations_are_not_infrastructure_errors(message: str) -> None:
    assert not is_infrastructure_error(row(TestStatus.canceled, message))


def test_a_cancellation_written_by_the_api_is_not_an_infrastructure_error() -> None:
    assert not is_infrastructure_error(row(TestStatus.canceled, 'artifact stuck, stopping it', by_api=True))


@pytest.mark.parametrize('message', ['artifact', 'Duplicate Entries', '', 'Canceled by user!'])
def test_every_other_canceled_row_is_one(message: str) -> None:
    assert is_infrastructure_error(row(TestStatus.canceled, message))


@pytest.mark.parametrize(('status', 'message', 'expected'), [
    (TestStatus.preparation, PREPARATION, False),
    (TestStatus.testing, 'Running tests', False),
    (TestStatus.completed, 'Ran all tests', False),
    (TestStatus.testing, 'Error: upload of the log failed', True),
    (TestStatus.preparation, 'Could not mount the bucket', True),
    (TestStatus.completed, 'Traceback (most recent call last):', True),
])
def test_other_rows_count_when_their_message_looks_failed(status: Any, message: str, expected: bool) -> None:
    assert is_infrastructure_error(row(status, message)) is expected


def test_a_row_the_run_carried_on_past_is_at_most_a_warning() -> None:
    rows = [row(TestStatus.testing, 'GCP error: QUOTA_EXCEEDED', 1),
            row(TestStatus.testing, 'PR is closed, failed to comment', 2)]

    assert [item['severity'] for item in infrastructure_errors(1, rows, False, ())] == ['warning', 'info']


def test_messages_and_stacks_respect_the_contract_bounds() -> None:
    lines = [f'line {number} ' + 'x' * 3000 for number in range(80)]
    rows = [row(TestStatus.canceled, 'y' * 1500, 1), row(TestStatus.canceled, '\n'.join(lines), 2)]

    single, multi = infrastructure_errors(1, rows, True, ())

    assert single['message'] == 'y' * 1000 and single['stack'] == []
    assert len(multi['stack']) == 50
    assert multi['stack'][0].startswith('line 30 ') and multi['stack'][-1].startswith('line 79 ')
    assert {len(line) for line in multi['stack']} == {2000}


def test_the_summary_of_a_traceback_is_its_last_line() -> None:
    text = 'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\n\nValueError: bad\n'

    (item,) = infrastructure_errors(1, [row(TestStatus.canceled, text)], True, ())

    assert item['message'] == 'ValueError: bad'
    assert item['stack'] == ['Traceback (most recent call last):', '  File "x.py", line 1, in <module>',
                             'ValueError: bad']


def test_an_empty_message_still_appears() -> None:
    (item,) = infrastructure_errors(1, [row(TestStatus.canceled, ' \n')], False, ())

    assert (item['message'], item['type'], item['location']['rule']) == (EMPTY_MESSAGE, 'worker', 'unknown')


def test_masking_replaces_whole_paths_only() -> None:
    pairs = (('/repository', '<SAMPLE_REPOSITORY>'),)

    assert mask('open /repository/LogFiles/1.txt', pairs) == 'open <SAMPLE_REPOSITORY>/LogFiles/1.txt'
    assert mask("in '/repository'.", pairs) == "in '<SAMPLE_REPOSITORY>'."
    assert mask('could not write to /repository.', pairs) == 'could not write to <SAMPLE_REPOSITORY>.'
    assert mask('/repository2/x /srv/repository/x /repository.old', pairs) == \
        '/repository2/x /srv/repository/x /repository.old'


def test_masks_cover_both_folders_as_configured_and_resolved(tmp_path: Path) -> None:
    real = tmp_path / 'real-repository'
    real.mkdir()
    link = tmp_path / 'repository'
    link.symlink_to(real)

    pairs = masks({'SAMPLE_REPOSITORY': f'{link}/', 'INSTALL_FOLDER': INSTALL})

    assert set(pairs) == {(str(link), '<SAMPLE_REPOSITORY>'), (os.path.realpath(real), '<SAMPLE_REPOSITORY>'),
                          (INSTALL, '<INSTALL_FOLDER>')}
    assert [len(path) for path, _ in pairs] == sorted((len(path) for path, _ in pairs), reverse=True)
    assert masks({'SAMPLE_REPOSITORY': '/', 'INSTALL_FOLDER': ''}) == ()


def test_a_repository_inside_the_install_folder_is_masked_as_the_repository() -> None:
    pairs = masks({'SAMPLE_REPOSITORY': f'{INSTALL}/repository', 'INSTALL_FOLDER': INSTALL})

    assert mask(f'{INSTALL}/repository/TestFiles and {INSTALL}/run.py', pairs) == \
        '<SAMPLE_REPOSITORY>/TestFiles and <INSTALL_FOLDER>/run.py'


# --- the endpoint ------------------------------------------------------------------------------------------------

@pytest.fixture()
def app(make_app: Any) -> Iterator[Flask]:
    """The app under test, with an install folder to mask."""
    application = make_app(INSTALL_FOLDER=INSTALL)
    with application.app_context():
        yield application


@pytest.fixture()
def repository(app: Flask) -> str:
    return app.config['SAMPLE_REPOSITORY']


@pytest.fixture()
def headers(app: Flask) -> dict[str, str]:
    return factories.bearer(factories.make_token(factories.make_user('admin'), ['system:read']))


def traceback_text(repository: str) -> str:
    return ('Traceback (most recent call last):\n'
            f'  File "{INSTALL}/mod_ci/controllers.py", line 310, in start_test\n'
            f"    open('{repository}/vm_data/linux-5/ci-tests/TestAll.xml')\n"
            f"FileNotFoundError: [Errno 2] No such file or directory: '{repository}/vm_data/linux-5/ci-tests/"
            "TestAll.xml'")


def troubled_run(repository: str) -> tuple[int, list[int]]:
    """A run stopped by a user, revived, then failing three ways; returns its id and its progress row ids."""
    run = add_run()
    rows = add_progress(run, (TestStatus.preparation, PREPARATION), (TestStatus.testing, 'Running tests'),
                        (TestStatus.canceled, 'Canceled by user'), (TestStatus.preparation, PREPARATION),
                        (TestStatus.testing, 'Error: log upload failed, rclone could not reach the bucket'),
                        (TestStatus.canceled, traceback_text(repository)),
                        (TestStatus.canceled, 'Could not complete test, time limit exceeded'))
    db.session.commit()
    return run.id, [progress.id for progress in rows]


def infra(client: FlaskClient, headers: dict[str, str], run_id: int, **params: Any) -> dict[str, Any]:
    return get_page(client, URL.format(run_id), headers, ErrorPageSchema, **params)


def test_every_field(client: FlaskClient, repository: str, headers: dict[str, str]) -> None:
    run_id, ids = troubled_run(repository)

    body = infra(client, headers, run_id)

    assert body['data'] == [
        {'error_id': f'infra_{run_id}_{ids[4]}', 'run_id': run_id, 'sample_id': None, 'regression_id': None,
         'type': 'storage', 'severity': 'warning',
         'message': 'Error: log upload failed, rclone could not reach the bucket',
         'location': {'progress_id': ids[4], 'status': 'testing', 'stage': 'preparation', 'rule': 'storage'},
         'occurred_at': '2024-05-17T12:04:00Z'},
        {'error_id': f'infra_{run_id}_{ids[5]}', 'run_id': run_id, 'sample_id': None, 'regression_id': None,
         'type': 'storage', 'severity': 'error',
         'message': "FileNotFoundError: [Errno 2] No such file or directory: "
                    "'<SAMPLE_REPOSITORY>/vm_data/linux-5/ci-tests/TestAll.xml'",
         'location': {'progress_id': ids[5], 'status': 'canceled', 'stage': 'testing', 'rule': 'storage'},
         'occurred_at': '2024-05-17T12:05:00Z'},
        {'error_id': f'infra_{run_id}_{ids[6]}', 'run_id': run_id, 'sample_id': None, 'regression_id': None,
         'type': 'worker', 'severity': 'error', 'message': 'Could not complete test, time limit exceeded',
         'location': {'progress_id': ids[6], 'status': 'canceled', 'stage': 'testing', 'rule': 'time_limit'},
         'occurred_at': '2024-05-17T12:06:00Z'},
    ]
    assert body['pagination'] == {'limit': 50, 'offset': 0, 'total': 3, 'next_offset': None}


def test_stacks_only_on_request_and_masked(client: FlaskClient, repository: str, headers: dict[str, str]) -> None:
    run_id, _ = troubled_run(repository)

    plain = client.get(URL.format(run_id), headers=headers)
    explicit = client.get(URL.format(run_id), headers=headers, query_string={'include_stack': 'false'})
    stacked = infra(client, headers, run_id, include_stack='true')

    assert plain.get_json() == explicit.get_json()
    assert all('stack' not in item for item in plain.get_json()['data'])
    assert [item['stack'] for item in stacked['data']] == [[], [
        'Traceback (most recent call last):',
        '  File "<INSTALL_FOLDER>/mod_ci/controllers.py", line 310, in start_test',
        "    open('<SAMPLE_REPOSITORY>/vm_data/linux-5/ci-tests/TestAll.xml')",
        "FileNotFoundError: [Errno 2] No such file or directory: '<SAMPLE_REPOSITORY>/vm_data/linux-5/ci-tests/"
        "TestAll.xml'"], []]
    with_stack = client.get(URL.format(run_id), headers=headers, query_string={'include_stack': 'true'})
    for text in (plain.get_data(as_text=True), with_stack.get_data(as_text=True)):
        assert repository not in text and INSTALL not in text


def test_error_ids_are_stable(client: FlaskClient, repository: str, headers: dict[str, str]) -> None:
    run_id, _ = troubled_run(repository)

    first = [item['error_id'] for item in infra(client, headers, run_id)['data']]
    again = [item['error_id'] for item in infra(client, headers, run_id, include_stack='true')['data']]
    paged = [item['error_id'] for offset in (0, 2) for item in infra(client, headers, run_id, limit=2,
                                                                     offset=offset)['data']]

    assert first == again == paged
    assert len(set(first)) == 3


@pytest.mark.parametrize(('params', 'expected'), [
    ({'type': 'storage'}, [4, 5]), ({'type': 'worker'}, [6]), ({'type': 'queue'}, []),
    ({'severity': 'warning'}, [4]), ({'severity': 'error'}, [5, 6]), ({'severity': 'critical'}, []),
    ({'type': 'storage', 'severity': 'error'}, [5]),
])
def test_filters(client: FlaskClient, repository: str, headers: dict[str, str], params: dict[str, str],
                 expected: list[int]) -> None:
    run_id, ids = troubled_run(repository)

    body = infra(client, headers, run_id, **params)

    assert [item['location']['progress_id'] for item in body['data']] == [ids[index] for index in expected]
    assert body['pagination']['total'] == len(expected)


def test_pages(client: FlaskClient, repository: str, headers: dict[str, str]) -> None:
    run_id, _ = troubled_run(repository)
    everything = infra(client, headers, run_id)['data']

    first = infra(client, headers, run_id, limit=2)
    second = infra(client, headers, run_id, limit=2, offset=2)

    assert first['data'] == everything[:2] and first['pagination']['next_offset'] == 2
    assert second['data'] == everything[2:] and second['pagination']['next_offset'] is None


def test_runs_without_infrastructure_errors(client: FlaskClient, app: Flask, headers: dict[str, str]) -> None:
    queued, done = add_run(), add_run(progress=DONE)
    stopped = add_run(progress=DONE[:1])
    add_api_cancellation(stopped, factories.make_user('admin', email='stopper@example.org'),
                         message='Stopped: artifact error suspected')
    aborted_by_pr = add_run(progress=((TestStatus.canceled, 'PR closed'),))
    db.session.commit()

    for run in (queued, done, stopped, aborted_by_pr):
        assert infra(client, headers, run.id)['data'] == []


@pytest.mark.parametrize(('message', 'kind', 'severity'), [
    (example[0], example[2], example[3]) for example in EXAMPLES if example[0].strip() not in CANCELLATION_MESSAGES])
def test_the_table_through_http(client: FlaskClient, app: Flask, headers: dict[str, str], message: str, kind: str,
                                severity: str) -> None:
    run = add_run(progress=(DONE[0], (TestStatus.canceled, message)))
    db.session.commit()

    (item,) = infra(client, headers, run.id)['data']

    assert (item['type'], item['severity']) == (kind, severity)


@pytest.mark.parametrize(('params', 'field'), [
    ({'include_stack': 'yes'}, 'include_stack'), ({'include_stack': '1'}, 'include_stack'),
    ({'type': 'diff_mismatch'}, 'type'), ({'severity': 'fatal'}, 'severity'), ({'sample_id': '1'}, 'sample_id'),
    ({'limit': '0'}, 'limit'),
])
def test_invalid_queries_are_400(client: FlaskClient, app: Flask, headers: dict[str, str], params: dict[str, str],
                                 field: str) -> None:
    run = add_run(progress=DONE)
    db.session.commit()

    response = client.get(URL.format(run.id), headers=headers, query_string=params)

    assert field in factories.assert_error(response, 400, 'validation_error')['fields']


def test_an_unknown_run_is_404(client: FlaskClient, app: Flask, headers: dict[str, str]) -> None:
    details = factories.assert_error(client.get(URL.format(999999), headers=headers), 404, 'not_found')

    assert details == {'resource': 'run', 'id': 999999}


def test_reading_needs_system_read(client: FlaskClient, app: Flask) -> None:
    run = add_run(progress=DONE)
    results_only = factories.bearer(factories.make_token(factories.make_user('admin'), ['runs:read', 'results:read']))

    factories.assert_error(client.get(URL.format(run.id)), 401, 'unauthorized')
    factories.assert_error(client.get(URL.format(run.id), headers=results_only), 403, 'forbidden')


def test_the_number_of_queries_does_not_depend_on_the_number_of_rows(client: FlaskClient, app: Flask,
                                                                     headers: dict[str, str]) -> None:
    small = add_run(progress=(DONE[0], (TestStatus.canceled, 'artifact')))
    big = add_run(progress=[DONE[0]] + [(TestStatus.canceled, f'Duplicate Entries {number}') for number in range(60)])
    db.session.commit()
    runs = ((small.id, 1), (big.id, 50))
    infra(client, headers, small.id)  # the token's first use records its last-used time: not counted below
    counts = []
    for run_id, expected in runs:
        with counted_queries() as statements:
            body = infra(client, headers, run_id, include_stack='true', limit=50)
        assert len(body['data']) == expected
        counts.append(len(statements))

    assert counts[0] == counts[1]


def test_severities_are_ordered() -> None:
    assert sorted(Severity, key=lambda severity: severity.rank) == [Severity.INFO, Severity.WARNING, Severity.ERROR,
                                                                    Severity.CRITICAL]
