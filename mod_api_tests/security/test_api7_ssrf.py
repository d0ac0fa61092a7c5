"""API7:2023 Server Side Request Forgery: no parameter makes the API fetch a URL.

A TCP listener on a loopback port counts every connection made to it. URLs naming it (http, https, with
credentials, redirect-style), ``file://`` paths and ``gs://`` objects are fed into every string parameter (query,
path, header) and every string or string-array body field of every operation of the served document, with an
admin token on the demo dataset. The listener gets no connection, no answer shows a fetched file, and none is a
5xx.
"""
import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from mod_api_tests.contract import Document
from mod_api_tests.security.served import served_operations

PASSWD_LINE = 'root:x:0:0'


class Listener:
    """A loopback TCP server that accepts and counts connections (and closes them)."""

    def __init__(self) -> None:
        self.server = socket.create_server(('127.0.0.1', 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while self.running:
            try:
                connection, _ = self.server.accept()
            except OSError:
                continue
            self.connections += 1
            connection.close()

    def close(self) -> None:
        """Stop accepting and release the port."""
        self.running = False
        self.thread.join()
        self.server.close()


@pytest.fixture()
def listener() -> Iterator[Listener]:
    """A connection-counting listener on a free loopback port."""
    server = Listener()
    yield server
    server.close()


def urls(port: int) -> list[str]:
    """Values that would make a careless server fetch something."""
    return [f'http://127.0.0.1:{port}/probe', f'https://user:pw@localhost:{port}/', 'file:///etc/passwd',
            'gs://sample-platform/TestFiles/x.ts']


def _string_fields(document: Document, schema: dict[str, Any]) -> Iterator[tuple[str, bool]]:
    """(name, is an array) of the string and string-array properties of a body schema."""
    for name, field in document.schema(schema).get('properties', {}).items():
        field = document.schema(field)
        if field.get('type') == 'string':
            yield name, False
        elif field.get('type') == 'array' and document.schema(field.get('items')).get('type') == 'string':
            yield name, True


def _requests(document: dict[str, Any], dataset, value: str) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(label, method, url, request keyword arguments) carrying ``value`` in each string input of each operation."""
    resolver = Document(document)
    for operation in served_operations(document):
        url = operation.url(dataset.path_values)
        headers = dataset.headers_for(operation)
        for parameter in operation.parameters:
            name, location = parameter['name'], parameter['in']
            if parameter.get('schema', {}).get('type') not in ('string', None, 'array'):
                continue
            if location == 'query':
                yield f'{operation} ?{name}', operation.method, url, {'query_string': {name: value}, 'headers': headers}
            elif location == 'path':
                target = operation.url({**dataset.path_values, name: quote(value, safe='')})
                yield f'{operation} /{name}', operation.method, target, {'headers': headers}
            elif location == 'header':
                yield f'{operation} {name}:', operation.method, url, {'headers': {**headers, name: value}}
        for name, is_array in _string_fields(resolver, operation.body):
            body = {name: [value] if is_array else value}
            yield f'{operation} body.{name}', operation.method, url, {'json': body, 'headers': headers}


def test_no_string_input_of_any_operation_fetches_a_url(client, dataset, document, listener):
    asked, problems = 0, []
    for value in urls(listener.port):
        for label, method, url, kwargs in _requests(document, dataset, value):
            response = client.open(url, method=method, **kwargs)
            asked += 1
            if response.status_code >= 500 or PASSWD_LINE in response.get_data(as_text=True):
                problems.append(f'{label} = {value}: {response.status_code}')
    assert problems == []
    assert asked > 150
    assert listener.connections == 0


def test_the_listener_counts_a_real_fetch(listener):
    with socket.create_connection(('127.0.0.1', listener.port), timeout=2):
        pass
    for _ in range(50):
        if listener.connections:
            break
        threading.Event().wait(0.02)
    assert listener.connections == 1
