"""The API is wired end to end: health works for real, and errors under the prefix are always JSON."""
import pytest
import sqlalchemy

from mod_api.db import create_api_tables, db


def test_health_reports_every_dependency(client):
    response = client.get('/api/v1/system/health')
    assert response.status_code == 200
    body = response.get_json()
    assert body['status'] == 'ok'
    assert [dependency['name'] for dependency in body['dependencies']] == [
        'database', 'sample_repository', 'gcs', 'rate_limit_storage']
    assert body['checked_at'].endswith('Z')


def test_health_is_degraded_when_the_sample_repository_is_missing(make_app, tmp_path):
    app = make_app(SAMPLE_REPOSITORY=str(tmp_path / 'nowhere'))
    body = app.test_client().get('/api/v1/system/health').get_json()
    assert body['status'] == 'degraded'
    repository = next(item for item in body['dependencies'] if item['name'] == 'sample_repository')
    assert repository['status'] == 'degraded'


@pytest.mark.parametrize('method, path, status', [
    ('get', '/api/v1/no/such/route', 404),
    ('delete', '/api/v1/system/health', 405),
    ('post', '/api/v1/system/health', 405),
])
def test_routing_errors_are_json(client, method, path, status):
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert response.mimetype == 'application/json'
    body = response.get_json()
    assert set(body) == {'code', 'message', 'details'}
    assert isinstance(body['details'], dict)
    assert response.headers['X-Request-Id']
    if status == 405:
        assert 'GET' in response.headers['Allow']


def test_requests_outside_the_prefix_are_not_the_apis_business(client):
    response = client.get('/not-the-api')
    assert response.status_code == 404
    assert response.mimetype == 'text/html'


def test_api_tables_command_adds_lookup_indexes_only_where_the_database_lacks_them(make_app, backend):
    app = make_app()
    create_api_tables(app)
    create_api_tables(app)  # idempotent
    with app.app_context():
        inspector = sqlalchemy.inspect(db.engine)
        names = [index['name'] for index in inspector.get_indexes('test_progress')]
        vm_names = [index['name'] for index in inspector.get_indexes('gcp_instance')]
    # SQLite has no index on foreign key columns; InnoDB indexes every foreign key column itself.
    assert ('ix_mod_api_gcp_instance_test_id' in vm_names) == (backend == 'sqlite')
    # The two-column lookup indexes exist nowhere by themselves.
    assert names.count('ix_mod_api_test_progress_test_id_timestamp') == 1
