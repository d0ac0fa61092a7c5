"""GET /environments and mod_api.environments: one environment per platform, on SQLite and MariaDB."""
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mod_api.db import db
from mod_api.environments import find_environment
from mod_api.legacy import TestStatus
from mod_api.resources.environments import EnvironmentPageSchema
from mod_api_tests import factories
from mod_api_tests.system_data import NOON, add_fork, add_run, finished, reader, set_general_data, set_maintenance
from mod_api_tests.test_run_data import counted_queries

URL = '/api/v1/environments'
LINUX_LABEL, WINDOWS_LABEL = 'ubuntu-minimal-2404-lts-amd64', 'windows-2019'


@pytest.fixture()
def headers(client: FlaskClient) -> dict[str, str]:
    return reader(client, ['runs:read'])


def get(client: FlaskClient, headers: dict[str, str], **params: object) -> dict:
    response = client.get(URL, headers=headers, query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def environment(platform: str, active: bool = True, label: str | None = None, average: int | None = None) -> dict:
    return {'environment_id': platform, 'platform': platform, 'active': active,
            'runner_label': label or {'linux': LINUX_LABEL, 'windows': WINDOWS_LABEL}[platform],
            'average_duration_ms': average}


def test_without_any_data_both_platforms_are_active_without_averages(client: FlaskClient,
                                                                     headers: dict[str, str]) -> None:
    assert get(client, headers) == {
        'data': [environment('linux'), environment('windows')],
        'pagination': {'limit': 50, 'offset': 0, 'total': 2, 'next_offset': None}}


def measured_runs() -> None:
    """Windows: completed runs of 2 and 4 minutes, plus runs that carry no duration; linux: a 10-minute run."""
    fork = add_fork()
    minute = timedelta(minutes=1)
    add_run(fork, 'windows', progress=[(TestStatus.preparation, NOON), (TestStatus.completed, NOON + 2 * minute)])
    add_run(fork, 'windows', progress=[(TestStatus.preparation, NOON), (TestStatus.testing, NOON + minute),
                                       (TestStatus.completed, NOON + 4 * minute)])
    add_run(fork, 'windows', progress=[(TestStatus.preparation, NOON), (TestStatus.canceled, NOON + 60 * minute)])
    add_run(fork, 'windows', progress=[(TestStatus.preparation, NOON), (TestStatus.testing, NOON + 60 * minute)])
    add_run(fork, 'windows', progress=[(TestStatus.completed, NOON)])  # a single row: no duration
    add_run(fork, 'windows')
    add_run(fork, 'linux', progress=[(TestStatus.preparation, NOON), (TestStatus.completed, NOON + 10 * minute)])


def test_maintenance_stored_averages_and_measured_averages(client: FlaskClient, headers: dict[str, str]) -> None:
    measured_runs()
    set_maintenance('windows', False)
    set_maintenance('windows', True)  # the newest row of a platform decides
    set_maintenance('linux', True)
    set_maintenance('linux', False)
    set_general_data('average_time_linux', '360')
    set_general_data('avg_prep_time_windows', '99.5')  # another key: not the average
    db.session.commit()

    body = get(client, headers)

    assert EnvironmentPageSchema().validate(body) == {}  # what the served document promises
    assert body['data'] == [environment('linux', average=360_000),
                            environment('windows', active=False, average=180_000)]


@pytest.mark.parametrize('stored', ['abc', 'inf', 'nan', ''])
def test_an_unreadable_stored_average_falls_back_to_the_runs(client: FlaskClient, headers: dict[str, str],
                                                             stored: str) -> None:
    measured_runs()
    set_general_data('average_time_linux', stored)
    set_general_data('average_time_windows', '12.5')
    db.session.commit()

    assert [item['average_duration_ms'] for item in get(client, headers)['data']] == [600_000, 12_500]


def test_runner_labels_come_from_the_configuration(make_app) -> None:
    app = make_app(LINUX_INSTANCE_FAMILY_NAME='debian-12', WINDOWS_INSTANCE_FAMILY_NAME='windows-2022')
    with app.app_context():
        client = app.test_client()
        body = get(client, reader(client, ['runs:read']))

    assert [item['runner_label'] for item in body['data']] == ['debian-12', 'windows-2022']


@pytest.mark.parametrize(('params', 'expected', 'next_offset'), [
    ({'platform': 'windows'}, ['windows'], None),
    ({'active': 'true'}, ['linux'], None),
    ({'active': 'false'}, ['windows'], None),
    ({'active': 'false', 'platform': 'linux'}, [], None),
    ({'limit': 1}, ['linux'], 1),
    ({'limit': 1, 'offset': 1}, ['windows'], None),
    ({'offset': 2}, [], None),
])
def test_filters_and_pages(client: FlaskClient, headers: dict[str, str], params: dict, expected: list,
                           next_offset: int | None) -> None:
    set_maintenance('windows', True)
    db.session.commit()

    body = get(client, headers, **params)

    assert [item['environment_id'] for item in body['data']] == expected
    assert body['pagination']['next_offset'] == next_offset
    total = 2 if set(params) <= {'limit', 'offset'} else len(expected)
    assert body['pagination']['total'] == total


def test_find_environment_is_what_post_runs_checks(app: Flask) -> None:
    set_maintenance('linux', True)
    db.session.commit()

    linux = find_environment('linux')
    assert linux is not None and (linux.platform, linux.active) == ('linux', False)
    assert find_environment('windows').active is True
    assert find_environment('windows-latest') is None
    assert find_environment('Linux') is None


def test_the_number_of_queries_is_fixed(app: Flask, client: FlaskClient, headers: dict[str, str]) -> None:
    add_run(add_fork(), progress=finished())
    db.session.commit()
    with counted_queries() as measured:
        get(client, headers)
    set_general_data('average_time_linux', '1')
    set_general_data('average_time_windows', '2')
    db.session.commit()
    with counted_queries() as stored:
        get(client, headers)

    ours = [[statement for statement in statements if 'api_token' not in statement]
            for statements in (measured, stored)]
    assert [len(statements) for statements in ours] == [3, 2]


def test_the_scope_is_runs_read(client: FlaskClient) -> None:
    factories.assert_error(client.get(URL), 401, 'unauthorized')
    factories.assert_error(client.get(URL, headers=reader(client, ['system:read'])), 403, 'forbidden')


@pytest.mark.parametrize('params', [{'platform': 'mac'}, {'active': 'True'}, {'limit': 101}, {'offset': 'x'},
                                    {'environment_id': 'linux'}])
def test_bad_parameters_are_refused(client: FlaskClient, headers: dict[str, str], params: dict) -> None:
    details = factories.assert_error(client.get(URL, headers=headers, query_string=params), 400, 'validation_error')
    assert set(details['fields']) == set(params)
