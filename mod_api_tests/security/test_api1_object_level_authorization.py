"""API1:2023 Broken Object Level Authorization: ids of one object never reach another's data.

On the demo dataset, ids are mixed across runs, samples, regression tests, outputs, approvals, logs and download
tokens: a result of run A asked under run B (not in B's scope), an output of another regression test, a
regression test of another sample, an approval requested under a run that does not hold the output, another
approval's id, a sample log of a run the sample is not in, a download token re-pointed at another file. Each is a
404 (or the download's 403 for a token that is not genuine) ErrorResponse carrying nothing of the object it named.
Writes follow the contract's ownership rule: only an admin or the user who started a run may cancel it; a retry
is a new run owned by whoever retries, the original untouched.
"""
import base64
import json
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from mod_api.access import allowed_scopes
from mod_api.db import db
from mod_api.legacy import TestFork as RunOwner
from mod_api.legacy import TestProgress as Progress
from mod_api.legacy import User
from mod_api.signing import DOWNLOAD_SALT, TokenSigner
from mod_api_tests.approvals_data import REASON
from mod_api_tests.conftest import SECRET
from mod_api_tests.factories import assert_error, bearer, make_token, make_user

RUNS = '/api/v1/runs'


@dataclass(frozen=True)
class Result:
    """One (sample, regression test, output) of a run, with the hashes a leak would show."""

    run_id: int
    sample_id: int
    regression_id: int
    output_id: int
    hashes: tuple[str, ...]


def results_of(client, dataset, run_id):
    """Every (sample, regression test, output) the API lists for a run."""
    items = client.get(f'{RUNS}/{run_id}/samples?limit=100', headers=dataset.admin).get_json()['data']
    return [Result(run_id, item['sample_id'], item['regression_id'], output['output_id'],
                   tuple(value for value in (output['expected_hash'], output['actual_hash']) if value))
            for item in items for output in item['outputs']]


@pytest.fixture()
def mixed(client, dataset):
    """A result of a completed run and a run whose scope holds neither its sample nor its regression test."""
    results = results_of(client, dataset, dataset.run_id('master-2-linux'))
    other_run = dataset.run_id('contributor-linux')  # customized: the weather tests only
    held = client.get(f'{RUNS}/{other_run}/samples?limit=100', headers=dataset.admin).get_json()['data']
    assert held
    foreign = next(result for result in results
                   if result.sample_id not in {item['sample_id'] for item in held} and result.hashes)
    return foreign, other_run, results


def assert_not_found_without(response, result, codes=('not_found',)):
    """A 404 ErrorResponse that shows none of ``result``'s hashes."""
    assert response.status_code == 404, response.get_data(as_text=True)
    assert_error(response, 404, response.get_json()['code'])
    assert response.get_json()['code'] in codes
    assert not [value for value in result.hashes if value in response.get_data(as_text=True)]


FILES = ('expected', 'actual', 'diff')


def test_a_result_of_one_run_asked_under_another_run_is_404(client, dataset, mixed):
    foreign, other_run, _ = mixed
    base = f'{RUNS}/{other_run}/samples/{foreign.sample_id}'
    picks = f'regression_id={foreign.regression_id}&output_id={foreign.output_id}'
    assert_not_found_without(client.get(f'{base}?regression_id={foreign.regression_id}', headers=dataset.admin),
                             foreign)
    for kind in FILES:
        assert_not_found_without(client.get(f'{base}/{kind}?{picks}', headers=dataset.admin), foreign)
    assert_not_found_without(client.get(f'{base}/logs', headers=dataset.admin), foreign,
                             codes=('not_found', 'log_not_found'))
    errors = client.get(f'{RUNS}/{other_run}/errors?sample_id={foreign.sample_id}', headers=dataset.admin)
    assert errors.status_code in (200, 404)
    assert not [value for value in foreign.hashes if value in errors.get_data(as_text=True)]


def test_an_output_or_regression_test_of_another_one_is_404_under_the_right_run(client, dataset, mixed):
    _, _, results = mixed
    pairs = [(first, second) for first in results for second in results
             if first.regression_id != second.regression_id and first.output_id != second.output_id]
    assert pairs
    for first, second in pairs:
        base = f'{RUNS}/{first.run_id}/samples/{first.sample_id}'
        for kind in FILES:
            response = client.get(f'{base}/{kind}?regression_id={first.regression_id}&output_id={second.output_id}',
                                  headers=dataset.admin)
            assert_not_found_without(response, second)
        if second.sample_id != first.sample_id:
            response = client.get(f'{base}?regression_id={second.regression_id}', headers=dataset.admin)
            assert_not_found_without(response, second)


def test_an_approval_cannot_be_requested_under_a_run_that_does_not_hold_the_output(client, dataset, mixed):
    foreign, other_run, _ = mixed
    contributor = bearer(make_token(make_user('contributor'), allowed_scopes('contributor')))
    before = client.get('/api/v1/baseline-approvals', headers=dataset.admin).get_json()['pagination']['total']
    response = client.post(f'{RUNS}/{other_run}/samples/{foreign.sample_id}/baseline-approval', headers=contributor,
                           json={'regression_id': foreign.regression_id, 'output_id': foreign.output_id,
                                 'reason': REASON})
    assert_not_found_without(response, foreign)
    after = client.get('/api/v1/baseline-approvals', headers=dataset.admin).get_json()['pagination']['total']
    assert after == before


def test_another_approval_id_is_404(client, dataset):
    existing = dataset.path_values['approval_id']
    admin = bearer(make_token(make_user('admin'), allowed_scopes('admin')))
    for approval_id in (f'apr_{int(existing[4:]) + 1}', 'apr_2147483647', 'apr_99999999999999999999'):
        url = f'/api/v1/baseline-approvals/{approval_id}'
        assert_error(client.get(url, headers=dataset.admin), 404, 'not_found')
        assert_error(client.post(f'{url}/review', headers=admin, json={'decision': 'approve'}), 404, 'not_found')
    pending = client.get(f'/api/v1/baseline-approvals/{existing}', headers=dataset.admin).get_json()
    assert pending['status'] == 'pending_review'


def _repointed(token, path):
    """``token`` with its payload's path replaced, its signature kept (what a client could try)."""
    payload, rest = token.split('.', 1)
    data = json.loads(base64.urlsafe_b64decode(payload + '=' * (-len(payload) % 4)))
    data['p'] = path
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip('=') + '.' + rest


def test_a_download_token_cannot_be_repointed_at_another_file(client, dataset):
    token = dataset.path_values['token']
    assert client.get(f'/api/v1/downloads/{token}').status_code == 200
    for path in ('LogFiles/1.txt', '../config.py', '/etc/passwd', 'TestResults/../../x'):
        assert_error(client.get(f'/api/v1/downloads/{_repointed(token, path)}'), 403, 'invalid_download_token')
        resigned = TokenSigner(SECRET + '-other', DOWNLOAD_SALT).sign({'p': path, 'f': 'x.txt'})
        assert_error(client.get(f'/api/v1/downloads/{resigned}'), 403, 'invalid_download_token')


def _cancel_rows(run_id):
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Progress).where(Progress.test_id == run_id))


def test_only_an_admin_or_the_runs_owner_may_cancel_it(client, dataset):
    run_id = dataset.run_id('contributor-linux')  # started by the demo contributor, not finished
    owner_id = db.session.scalar(select(RunOwner.user_id).where(RunOwner.test_id == run_id))
    rows = _cancel_rows(run_id)
    for role in ('tester', 'contributor'):
        intruder = bearer(make_token(make_user(role), allowed_scopes(role)))
        details = assert_error(client.post(f'{RUNS}/{run_id}/cancel', headers=intruder, json={}), 403, 'forbidden')
        assert details == {'rule': 'admin_or_run_owner', 'run_id': run_id, 'user_role': role}
    assert _cancel_rows(run_id) == rows
    owner = bearer(make_token(db.session.get(User, owner_id), allowed_scopes('contributor')))
    accepted = client.post(f'{RUNS}/{run_id}/cancel', headers=owner, json={})
    assert accepted.status_code == 202 and accepted.get_json()['status'] == 'accepted'
    assert _cancel_rows(run_id) == rows + 1


def test_a_retry_of_another_users_run_is_a_new_run_owned_by_the_retrier(client, dataset):
    run_id = dataset.run_id('tester-windows')  # the demo tester's, canceled
    retrier = make_user('contributor')
    response = client.post(f'{RUNS}/{run_id}/retry', json={},
                           headers=bearer(make_token(retrier, allowed_scopes('contributor'))))
    assert response.status_code == 202, response.get_data(as_text=True)
    new_run = response.get_json()['new_run_id']
    db.session.rollback()
    assert set(db.session.scalars(select(RunOwner.user_id).where(RunOwner.test_id == new_run))) == {retrier.id}
    assert retrier.id not in set(db.session.scalars(select(RunOwner.user_id).where(RunOwner.test_id == run_id)))
