"""``Idempotency-Key`` on ``POST /runs`` and ``/retry``: replays, reuse with another request, concurrency, expiry."""
import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from mod_api import idempotency
from mod_api.db import db
from mod_api.legacy import Test as Run
from mod_api.models import ApiToken, IdempotencyRecord
from mod_api.timeutil import utcnow
from mod_api_tests.factories import assert_error, bearer, make_token
from mod_api_tests.run_writes_data import (
    COMMIT,
    audit_rows,
    caller,
    count,
    fresh,
    generous_app,
    in_parallel,
    regression_tests,
)
from mod_api_tests.runs_data import DONE, add_run

BODY = {'repository': 'CCExtractor/ccextractor', 'commit_sha': COMMIT, 'platform': 'linux'}


@pytest.fixture()
def app(make_app):
    yield from generous_app(make_app)


def trigger(client, headers, key, **fields):
    return client.post('/api/v1/runs', json={**BODY, **fields}, headers={**headers, 'Idempotency-Key': key})


def retry(client, run_id, headers, key, **body):
    return client.post(f'/api/v1/runs/{run_id}/retry', headers={**headers, 'Idempotency-Key': key},
                       **({'json': body} if body else {}))


def test_the_same_key_replays_the_first_response_and_creates_nothing(client):
    regression_tests()
    _, headers = caller()

    first = trigger(client, headers, 'key-1')
    second = trigger(client, headers, 'key-1')

    assert first.status_code == second.status_code == 202
    assert second.get_data() == first.get_data()
    assert second.headers['Location'] == first.headers['Location']
    assert (first.headers.get('Idempotent-Replayed'), second.headers['Idempotent-Replayed']) == (None, 'true')
    assert count(Run) == 1
    assert [entry.outcome for entry in audit_rows('run.trigger')] == ['accepted', 'replayed']
    assert audit_rows('run.trigger')[1].target_id == str(first.get_json()['run_id'])


def test_the_same_key_with_another_body_is_422_and_creates_nothing(client):
    regression_tests()
    _, headers = caller()
    trigger(client, headers, 'key-1')

    details = assert_error(trigger(client, headers, 'key-1', platform='windows'), 422, 'idempotency_key_reused')

    assert details == {'header': 'Idempotency-Key'}
    assert count(Run) == 1
    assert [entry.outcome for entry in audit_rows('run.trigger')] == ['accepted', 'rejected']


def test_keys_belong_to_a_token_and_an_operation(client):
    regression_tests()
    user, headers = caller()
    other_token = bearer(make_token(user))
    source = trigger(client, headers, 'shared').get_json()['run_id']

    assert trigger(client, other_token, 'shared').headers.get('Idempotent-Replayed') is None
    assert retry(client, source, headers, 'shared').headers.get('Idempotent-Replayed') is None
    assert count(Run) == 3


def test_a_retry_key_replays_and_refuses_another_source_or_body(client):
    regression_tests()
    first_source = add_run(progress=DONE)
    second_source = add_run(progress=DONE)
    db.session.commit()
    first_id, second_id = first_source.id, second_source.id
    _, headers = caller()

    first = retry(client, first_id, headers, 'retry-key')
    again = retry(client, first_id, headers, 'retry-key', failed_only=False)  # the same request once validated

    assert first.status_code == again.status_code == 202
    assert again.get_data() == first.get_data() and again.headers['Location'] == first.headers['Location']
    assert_error(retry(client, second_id, headers, 'retry-key'), 422, 'idempotency_key_reused')
    assert_error(retry(client, first_id, headers, 'retry-key', reason='other'), 422, 'idempotency_key_reused')
    assert count(Run) == 3


def test_parallel_requests_with_one_key_create_one_run(app):
    regression_tests()
    _, headers = caller()

    responses = in_parallel(app, 10, lambda client, _: trigger(client, headers, 'parallel'))

    assert [response.status_code for response in responses] == [202] * 10
    assert len({response.get_data() for response in responses}) == 1
    assert [response.headers.get('Idempotent-Replayed') for response in responses].count(None) == 1
    assert count(Run) == 1 and count(IdempotencyRecord) == 1


def test_parallel_retries_with_one_key_create_one_run(app):
    regression_tests()
    source = add_run(progress=DONE)
    db.session.commit()
    source_id = source.id
    _, headers = caller()

    responses = in_parallel(app, 10, lambda client, _: retry(client, source_id, headers, 'parallel'))

    assert [response.status_code for response in responses] == [202] * 10
    assert len({response.get_json()['new_run_id'] for response in responses}) == 1
    assert count(Run) == 2


def test_a_refused_request_does_not_use_up_its_key(client):
    _, headers = caller()

    assert_error(trigger(client, headers, 'again'), 422, 'unprocessable')  # no active regression test yet
    assert count(IdempotencyRecord) == 0
    regression_tests()
    assert trigger(client, headers, 'again').status_code == 202
    assert count(Run) == 1


def test_a_key_older_than_24_hours_is_free_again(client):
    regression_tests()
    _, headers = caller()
    first = trigger(client, headers, 'old').get_json()['run_id']
    db.session.execute(update(IdempotencyRecord).values(created_at=utcnow() - timedelta(hours=24, seconds=1)))
    db.session.commit()

    second = trigger(client, headers, 'old', platform='windows')

    assert second.status_code == 202 and second.get_json()['run_id'] != first
    assert count(Run) == 2 and count(IdempotencyRecord) == 1


def test_a_key_claimed_by_a_request_in_flight_is_409_after_the_wait(app, client, monkeypatch):
    monkeypatch.setattr(idempotency, 'WAIT_SECONDS', 0.2)
    source = add_run(progress=DONE)
    db.session.commit()
    source_id = source.id
    user, headers = caller()
    path = f'/api/v1/runs/{source_id}/retry'
    with app.test_request_context(path, method='POST'):
        fingerprint = idempotency._fingerprint({'failed_only': False})
    token_id = db.session.scalars(select(ApiToken.id).where(ApiToken.user_id == user.id)).one()
    db.session.add(IdempotencyRecord(token_id=token_id, operation='run.retry', key='busy', created_at=utcnow(),
                                     status_code=idempotency.PENDING, body=json.dumps({'request': fingerprint})))
    db.session.commit()

    assert_error(retry(client, source_id, headers, 'busy'), 409, 'idempotency_in_progress')
    assert count(Run) == 1


@pytest.mark.parametrize('key', ['', 'x' * 256, 'has space', 'tab\there', 'caf\u00e9'])
def test_a_malformed_key_is_400(client, key):
    regression_tests()
    _, headers = caller()

    response = client.post('/api/v1/runs', json=BODY, headers={**headers, 'Idempotency-Key': key.encode('utf-8')
                                                                 .decode('latin-1')})

    assert set(assert_error(response, 400, 'validation_error')['fields']) == {'Idempotency-Key'}
    assert count(Run) == 0


def test_the_longest_key_of_visible_ascii_is_accepted(client):
    regression_tests()
    _, headers = caller()
    key = ''.join(chr(33 + index % 94) for index in range(255))

    assert trigger(client, headers, key).status_code == 202
    assert trigger(client, headers, key).headers['Idempotent-Replayed'] == 'true'
    fresh()
    assert db.session.scalars(select(IdempotencyRecord.key)).one() == key


def test_the_header_is_a_documented_optional_parameter_of_both_operations(client):
    document = client.get('/api/v1/openapi.json').get_json()

    for path in ('/runs', '/runs/{run_id}/retry'):
        (parameter,) = [parameter for parameter in document['paths'][path]['post']['parameters']
                        if parameter['in'] == 'header']
        assert (parameter['name'], parameter['required']) == ('Idempotency-Key', False)
        assert parameter['schema'] == {'type': 'string', 'minLength': 1, 'maxLength': 255, 'pattern': '^[!-~]+$'}
