"""Properties every response and every refused write must keep, checked by the fuzz and hostile-input tests.

* :func:`assert_error_response`: a response that is not 2xx/304 is the contract's ErrorResponse, validated against
  the served document's own ``ErrorResponse`` schema (never a 5xx, never HTML).
* :func:`row_counts`: the number of rows of every table, in one statement (one scalar subquery per table), read on
  a connection of its own so that it sees what requests committed.
"""
from typing import Any

import jsonschema
from jsonschema.protocols import Validator
from sqlalchemy import func, select

from mod_api.db import db
from mod_api_tests.conftest import all_tables

AUDIT_TABLE = 'api_audit_log'


def error_response_validator(document: dict[str, Any]) -> Validator:
    """A validator of the document's ``ErrorResponse`` schema (its ``$ref`` resolved within the document)."""
    schema = {'$ref': '#/components/schemas/ErrorResponse', 'components': document['components']}
    return jsonschema.Draft4Validator(schema)


def assert_error_response(response: Any, validator: Validator, context: str = '') -> None:
    """Assert ``response`` is below 500 and, unless 2xx/304, a JSON ErrorResponse the validator accepts."""
    assert response.status_code < 500, f'{response.status_code} {response.get_data()[:500]!r} for {context}'
    if 200 <= response.status_code < 300 or response.status_code == 304:
        return
    assert response.mimetype == 'application/json', f'{response.mimetype} for {context}'
    errors = [error.message for error in validator.iter_errors(response.get_json())]
    assert not errors, f'not an ErrorResponse ({errors}): {response.get_data()[:500]!r} for {context}'


def row_counts() -> dict[str, int]:
    """Rows per table (one statement, on a fresh connection: committed data only)."""
    statement = select(*[select(func.count()).select_from(table).scalar_subquery().label(table.name)
                         for table in all_tables()])
    with db.engine.connect() as connection:
        return dict(connection.execute(statement).one()._mapping)


def assert_nothing_written(before: dict[str, int], after: dict[str, int], context: str = '') -> None:
    """No table gained or lost a row, except at most one audit row (refusals of writes are audited on purpose)."""
    changed = {name: (before[name], after[name]) for name in before if before[name] != after[name]}
    audit = changed.pop(AUDIT_TABLE, None)
    assert not changed, f'a refused write changed row counts {changed} for {context}'
    assert audit is None or audit[1] - audit[0] == 1, f'audit rows {audit} for {context}'
