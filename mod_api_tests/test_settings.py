"""Configuration: every key documented in config_sample.py, env overrides, and one-line errors naming the key."""
import ast
import runpy
from pathlib import Path

import pytest
from flask import Flask

import mod_api
from mod_api.settings import SETTINGS, ConfigError, apply_settings
from mod_api_tests.conftest import SECRET

SAMPLE = Path(__file__).resolve().parent.parent / 'config_sample.py'
BASE = {'DATABASE_URI': 'sqlite:///platform.db', 'SAMPLE_REPOSITORY': '/srv/repository', 'API_SECRET_KEY': SECRET}


def resolved(environ=None, **config):
    """The config after apply_settings, from BASE updated with ``config`` (None removes a key)."""
    merged = {key: value for key, value in {**BASE, **config}.items() if value is not None}
    apply_settings(merged, environ or {})
    return merged


def config_error(environ=None, **config) -> str:
    """The message of the ConfigError that apply_settings raises for this configuration."""
    with pytest.raises(ConfigError) as raised:
        resolved(environ, **config)
    message = str(raised.value)
    assert '\n' not in message
    return message


def _sample_assignments() -> dict[str, int]:
    """Each key assigned at the top level of config_sample.py, with its line number."""
    tree = ast.parse(SAMPLE.read_text())
    return {node.targets[0].id: node.lineno for node in tree.body
            if isinstance(node, ast.Assign) and not node.targets[0].id.startswith('_')}


def test_every_key_is_in_config_sample_under_a_comment():
    lines = SAMPLE.read_text().splitlines()
    assignments = _sample_assignments()
    assert set(assignments) == {setting.key for setting in SETTINGS}
    for key, number in assignments.items():
        above = number - 2
        while lines[above].split('=')[0].strip() in assignments:  # keys grouped under one comment
            above -= 1
        assert lines[above].startswith('# '), key


def test_config_sample_resolves_cleanly():
    sample = runpy.run_path(str(SAMPLE))
    config = {key: value for key, value in sample.items() if key.isupper()}
    config['API_SECRET_KEY'] = SECRET
    apply_settings(config, {})
    assert config['API_CORS_ORIGINS'] == ()


def test_defaults_are_the_contracts():
    config = resolved()
    assert (config['API_READ_LIMIT'], config['API_WRITE_LIMIT'], config['API_AUTH_LIMIT']) == (
        '120/minute', '20/minute', '5/15 minutes')
    assert config['API_RATELIMIT_STORAGE_URI'] == 'memory://'
    assert config['API_TRUSTED_PROXY_HOPS'] == 0


@pytest.mark.parametrize('key', ['DATABASE_URI', 'SAMPLE_REPOSITORY', 'API_SECRET_KEY'])
def test_a_missing_required_key_is_named(key):
    assert config_error(**{key: None}).startswith(f'config key {key} is missing')


@pytest.mark.parametrize('key, value', [
    ('API_TRUSTED_PROXY_HOPS', 11), ('API_TRUSTED_PROXY_HOPS', -1), ('API_TRUSTED_PROXY_HOPS', 'two'),
    ('API_TRUSTED_PROXY_HOPS', 1.5), ('API_TRUSTED_PROXY_HOPS', True), ('API_TRUSTED_PROXY_HOPS', '1_0'),
    ('API_MAX_BODY_BYTES', 1023), ('API_MAX_BODY_BYTES', 10 * 1024 * 1024 + 1), ('API_TOKEN_DEFAULT_DAYS', 0),
    ('API_TOKEN_DEFAULT_DAYS', 91), ('GCS_SIGNED_URL_EXPIRY_LIMIT', [5]),
])
def test_an_integer_out_of_range_or_of_another_type_is_named(key, value):
    message = config_error(**{key: value})
    assert message.startswith(f'config key {key} must be an integer from ')


@pytest.mark.parametrize('value', ['often', '0/minute', '10/minute;1/second', '', ' ', 120, '10 per fortnight'])
def test_a_bad_rate_limit_string_is_named(value):
    assert config_error(API_READ_LIMIT=value).startswith('config key API_READ_LIMIT must be one rate limit')


@pytest.mark.parametrize('value', ['redis:/127.0.0.1', 'nosuch://x', 'async+redis://127.0.0.1', '', 'memory'])
def test_a_bad_storage_uri_is_named(value):
    assert config_error(API_RATELIMIT_STORAGE_URI=value).startswith('config key API_RATELIMIT_STORAGE_URI must')


@pytest.mark.parametrize('value', ['not a url', 'nosuchdialect://user:hunter2@db/platform', ''])
def test_a_bad_database_uri_is_named_without_echoing_it(value):
    message = config_error(DATABASE_URI=value)
    assert message.startswith('config key DATABASE_URI must')
    assert 'hunter2' not in message


def test_a_short_secret_is_refused_without_echoing_it():
    message = config_error(API_SECRET_KEY='hunter2')
    assert message == 'config key API_SECRET_KEY must be at least 16 characters'


def test_api_secret_key_falls_back_to_secret_key():
    assert resolved(API_SECRET_KEY=None, SECRET_KEY=b'platform-secret-key-bytes')['API_SECRET_KEY'] == (
        'platform-secret-key-bytes')
    assert resolved(API_SECRET_KEY='', SECRET_KEY='p' * 20)['API_SECRET_KEY'] == 'p' * 20
    assert resolved(SECRET_KEY='p' * 20)['API_SECRET_KEY'] == SECRET


def test_an_environment_variable_beats_the_config():
    environ = {'API_READ_LIMIT': '7/minute', 'API_TRUSTED_PROXY_HOPS': '2', 'API_CORS_ORIGINS': 'https://a, https://b',
               'DATABASE_URI': 'sqlite:///other.db', 'API_SECRET_KEY': 'e' * 16}
    config = resolved(environ, API_READ_LIMIT='3/minute', API_TRUSTED_PROXY_HOPS=0, API_SECRET_KEY=None,
                      SECRET_KEY='s' * 16)
    assert config['API_READ_LIMIT'] == '7/minute'
    assert config['API_TRUSTED_PROXY_HOPS'] == 2
    assert config['API_CORS_ORIGINS'] == ('https://a', 'https://b')
    assert config['DATABASE_URI'] == 'sqlite:///other.db'
    assert config['API_SECRET_KEY'] == 'e' * 16


def test_a_malformed_environment_variable_is_named():
    assert config_error({'API_MAX_BODY_BYTES': '64k'}).startswith('config key API_MAX_BODY_BYTES must be an integer')


def test_init_app_refuses_a_bad_configuration():
    app = Flask('misconfigured')
    app.config.update(BASE, API_WRITE_LIMIT='lots')
    with pytest.raises(ConfigError, match='^config key API_WRITE_LIMIT must be one rate limit'):
        mod_api.init_app(app)
