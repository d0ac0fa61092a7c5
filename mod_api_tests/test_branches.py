"""GET /branches: (repository, branch) pairs of the platform's runs, grouped and paged in SQL, on both backends."""
import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from mod_api.db import db
from mod_api.legacy import Fork, TestStatus
from mod_api.resources.branches import BranchPageSchema
from mod_api.run_view import repository_name
from mod_api.sql_functions import repository_expression
from mod_api.timeutil import utcnow
from mod_api_tests import factories
from mod_api_tests.system_data import MAIN_REPOSITORY, add_fork, add_run, reader, store
from mod_api_tests.test_run_data import counted_queries

URL = '/api/v1/branches'
OLD, NEW, SHORT = '1' * 40, '2' * 40, 'abcdef0'
CONTRACT_REPOSITORY = re.compile(r'[a-zA-Z0-9_.-]+/[a-zA-Z0-9_.-]+')


@pytest.fixture()
def headers(client: FlaskClient) -> dict[str, str]:
    return reader(client, ['runs:read'])


def get(client: FlaskClient, headers: dict[str, str], **params: object) -> dict:
    response = client.get(URL, headers=headers, query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def pairs(body: dict) -> list[tuple[str, str, str | None, bool]]:
    return [(item['repository'], item['name'], item['head_sha'], item['active']) for item in body['data']]


def days_ago(days: float):
    return utcnow() - timedelta(days=days)


def scenario() -> None:
    """Forks and runs covering grouping, exclusion, head commits and activity."""
    main = add_fork()
    alice = add_fork('https://github.com/alice/ccextractor.git')
    alice_upper = add_fork('https://github.com/Alice/ccextractor')  # the fork table ignores case on MariaDB
    bob = add_fork('http://github.com/bob/ccx-fork/')  # no .git, http, a trailing slash
    gitlab = add_fork('https://gitlab.com/carol/ccextractor.git')  # not owner/repo: not listed
    add_run(main, commit=OLD, recorded_at=days_ago(90))
    add_run(main, 'windows', commit=NEW, recorded_at=days_ago(60))  # newest master run: head, still inactive
    add_run(main, branch='pull_request', commit=OLD, progress=[(TestStatus.preparation, days_ago(40))])
    add_run(main, branch='pull_request', commit=SHORT, progress=[(TestStatus.preparation, days_ago(2))])
    add_run(alice, commit=NEW)  # queued, never seen: created now
    add_run(alice, branch='Master', commit=OLD, vm_at=days_ago(45))
    add_run(alice_upper, commit=OLD, vm_at=days_ago(1))
    add_run(bob, branch='feature/x', commit=NEW, recorded_at=days_ago(20))
    add_run(gitlab, commit=NEW)
    add_run(None, commit=NEW)  # no fork: no repository
    add_run(main, branch='b' * 101, commit=NEW)  # name too long for the contract
    db.session.commit()


EVERYTHING = [
    ('Alice/ccextractor', 'master', OLD, True),
    ('CCExtractor/ccextractor', 'master', NEW, False),
    ('CCExtractor/ccextractor', 'pull_request', None, True),
    ('alice/ccextractor', 'Master', OLD, False),
    ('alice/ccextractor', 'master', NEW, True),
    ('bob/ccx-fork', 'feature/x', NEW, True),
]


def test_pairs_are_grouped_exactly_with_their_head_commit_and_activity(client: FlaskClient,
                                                                       headers: dict[str, str]) -> None:
    scenario()

    body = get(client, headers)

    assert BranchPageSchema().validate(body) == {}  # what the served document promises
    assert pairs(body) == EVERYTHING
    assert body['pagination'] == {'limit': 50, 'offset': 0, 'total': 6, 'next_offset': None}


def test_the_activity_window_is_configurable(make_app, headers_for) -> None:
    app = make_app(API_BRANCH_ACTIVE_DAYS=50)
    with app.app_context():
        scenario()
        client = app.test_client()
        body = get(client, headers_for(client))

    assert [item[3] for item in pairs(body)] == [True, False, True, True, True, True]


@pytest.fixture()
def headers_for():
    return lambda client: reader(client, ['runs:read'])


@pytest.mark.parametrize(('params', 'expected'), [
    ({'repository': 'ccextractor/CCEXTRACTOR'}, EVERYTHING[1:3]),  # GitHub names ignore case
    ({'repository': 'alice/ccextractor'}, [EVERYTHING[0], EVERYTHING[3], EVERYTHING[4]]),
    ({'name': 'master'}, [EVERYTHING[0], EVERYTHING[1], EVERYTHING[4]]),  # exact, case-sensitive
    ({'name': 'Master'}, [EVERYTHING[3]]),
    ({'name': 'maste'}, []),
    ({'name': 'feature/x'}, [EVERYTHING[5]]),
    ({'active': 'true'}, [item for item in EVERYTHING if item[3]]),
    ({'active': 'false'}, [item for item in EVERYTHING if not item[3]]),
    ({'repository': 'CCExtractor/ccextractor', 'name': 'pull_request', 'active': 'true'}, [EVERYTHING[2]]),
    ({'repository': 'carol/ccextractor'}, []),
])
def test_filters(client: FlaskClient, headers: dict[str, str], params: dict, expected: list) -> None:
    scenario()

    body = get(client, headers, **params)

    assert pairs(body) == expected
    assert body['pagination']['total'] == len(expected)


def test_pages_follow_the_order(client: FlaskClient, headers: dict[str, str]) -> None:
    scenario()

    pages = [get(client, headers, limit=4, offset=offset) for offset in (0, 4)]

    assert [page['pagination']['next_offset'] for page in pages] == [4, None]
    assert pairs(pages[0]) + pairs(pages[1]) == EVERYTHING
    past_the_end = get(client, headers, offset=6)
    assert past_the_end['data'] == [] and past_the_end['pagination']['total'] == 6
    assert get(client, headers, name='none')['pagination'] == {'limit': 50, 'offset': 0, 'total': 0,
                                                               'next_offset': None}


def test_the_number_of_queries_does_not_depend_on_the_page_size(app: Flask, client: FlaskClient,
                                                                headers: dict[str, str]) -> None:
    fork = add_fork()
    add_run(fork)
    db.session.commit()
    with counted_queries() as one:
        assert len(get(client, headers)['data']) == 1
    for number in range(60):
        add_run(fork, branch=f'branch-{number}', progress=[(TestStatus.testing, days_ago(number))])
    db.session.commit()
    with counted_queries() as many:
        assert len(get(client, headers)['data']) == 50

    ours = [[statement for statement in statements if 'api_token' not in statement] for statements in (one, many)]
    assert len(ours[0]) == len(ours[1]) == 1  # the page carries its total


URL_SHAPES = [
    MAIN_REPOSITORY, 'https://github.com/owner/repo', 'http://github.com/owner/repo.git',
    ' https://github.com/o/r.git ', 'https://github.com/o/r.git/', 'https://github.com/o/r/.git',
    '//https://github.com/o/r//', 'https://github.com/o/r.GIT',
    'https://github.com/o/r.git.git', 'https://github.com/o.git/r.git', 'https://github.com/o/r/extra',
    'https://gitlab.com/o/r.git', 'git@github.com:o/r.git', 'o/r', '.git', 'git', 'r.git', 'https://github.com/',
    'https://github.com/o/ré.git', 'https://github.com/ö/r', 'https://github.com/o/r\n', 'https://github.com/o/r.git\n',
    'https://github.com/https://github.com/o/r', 'https://github.com/' + 'o' * 60 + '/' + 'r' * 39 + '.git',
    'https://github.com/' + 'o' * 60 + '/' + 'r' * 40 + '.git', 'https://github.com/a b/c', '',
]


def fits(repository: str | None) -> bool:
    """The contract's Branch.repository: owner/repo of at most 100 characters."""
    return repository is not None and bool(CONTRACT_REPOSITORY.fullmatch(repository)) and len(repository) <= 100


def test_the_sql_repository_rule_is_run_views(app: Flask) -> None:
    """SQL lists only run_view's own names; it finds every fitting name unless the URL has non-space padding."""
    forks = [Fork(url) for url in URL_SHAPES]
    store(*forks)
    for fork in forks:
        add_run(fork, commit='c' * 40)
    db.session.commit()
    computed = dict(db.session.execute(select(Fork.github, repository_expression(Fork.github))).tuples().all())

    for url in URL_SHAPES:
        expected = repository_name(url)
        if fits(computed[url]):
            assert computed[url] == expected, url
        if fits(expected) and url.strip() == url.strip(' '):
            assert computed[url] == expected, url
    client = app.test_client()
    listed = {item['repository'] for item in get(client, reader(client, ['runs:read']), limit=100)['data']}
    assert listed == {name for name in computed.values() if fits(name)}
    assert 'o/r' in listed and 'CCExtractor/ccextractor' in listed


def test_the_scope_is_runs_read(client: FlaskClient) -> None:
    factories.assert_error(client.get(URL), 401, 'unauthorized')
    factories.assert_error(client.get(URL, headers=reader(client, ['system:read'])), 403, 'forbidden')
    assert client.get(URL, headers=reader(client, ['runs:read'])).status_code == 200


@pytest.mark.parametrize('params', [{'repository': 'no-slash'}, {'repository': 'a/b/c'}, {'repository': 'a/b\n'},
                                    {'repository': 'o/' + 'r' * 99}, {'name': 'n' * 101}, {'active': 'yes'},
                                    {'active': '1'}, {'limit': 0}, {'offset': -1}, {'branch': 'master'}])
def test_bad_parameters_are_refused(client: FlaskClient, headers: dict[str, str], params: dict) -> None:
    details = factories.assert_error(client.get(URL, headers=headers, query_string=params), 400, 'validation_error')
    assert set(details['fields']) == set(params)
