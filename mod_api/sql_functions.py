"""SQL functions that read the same on SQLite and MariaDB.

Exact (byte-for-byte) text, character lengths, slashes trimmed, and a fork URL's ``owner/repo``
(``run_view.repository_name`` written in SQL).
"""
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

GITHUB_PREFIXES = ('https://github.com/', 'http://github.com/')
SHORT_KEY_LENGTH = 100


class CharLength(FunctionElement[int]):
    """Length in characters (MariaDB's LENGTH counts bytes)."""

    name = 'char_length'
    inherit_cache = True


@compiles(CharLength, 'sqlite')
def _char_length_sqlite(element: CharLength, compiler: Any, **kw: Any) -> str:
    return f'length({compiler.process(element.clauses, **kw)})'


@compiles(CharLength)
def _char_length_mysql(element: CharLength, compiler: Any, **kw: Any) -> str:
    return f'CHAR_LENGTH({compiler.process(element.clauses, **kw)})'


class TrimSlashes(FunctionElement[str]):
    """The value without leading and trailing ``/``."""

    name = 'trim_slashes'
    inherit_cache = True


@compiles(TrimSlashes, 'sqlite')
def _trim_slashes_sqlite(element: TrimSlashes, compiler: Any, **kw: Any) -> str:
    return f"trim({compiler.process(element.clauses, **kw)}, '/')"


@compiles(TrimSlashes)
def _trim_slashes_mysql(element: TrimSlashes, compiler: Any, **kw: Any) -> str:
    return f"TRIM(BOTH '/' FROM {compiler.process(element.clauses, **kw)})"


class Exact(FunctionElement[str]):
    """The value compared, grouped and sorted byte for byte (MariaDB's collations may ignore case, trailing spaces)."""

    name = 'exact'
    inherit_cache = True


@compiles(Exact, 'sqlite')
def _exact_sqlite(element: Exact, compiler: Any, **kw: Any) -> str:
    return f'({compiler.process(element.clauses, **kw)})'


@compiles(Exact)
def _exact_mysql(element: Exact, compiler: Any, **kw: Any) -> str:
    return f'BINARY ({compiler.process(element.clauses, **kw)})'


class ShortKey(FunctionElement[str]):
    """:class:`Exact` for values of at most 100 characters, as MariaDB VARCHAR: TEXT would make it group on disk."""

    name = 'short_key'
    inherit_cache = True


@compiles(ShortKey, 'sqlite')
def _short_key_sqlite(element: ShortKey, compiler: Any, **kw: Any) -> str:
    return f'({compiler.process(element.clauses, **kw)})'


@compiles(ShortKey)
def _short_key_mysql(element: ShortKey, compiler: Any, **kw: Any) -> str:
    return f'BINARY CAST({compiler.process(element.clauses, **kw)} AS CHAR({SHORT_KEY_LENGTH}))'


def repository_expression(github: Any) -> ColumnElement[str]:
    """``run_view.repository_name`` of a fork URL column, in SQL (leading/trailing spaces only are trimmed)."""
    name = func.trim(github)
    length = CharLength(name)
    ends_with_git = and_(length >= 4, CharLength(func.replace(func.substr(name, length - 3), '.git', '')) == 0)
    result: ColumnElement[str] = case((ends_with_git, func.substr(name, 1, length - 4)), else_=name)
    for prefix in GITHUB_PREFIXES:
        result = func.replace(result, prefix, '')
    return TrimSlashes(result)
