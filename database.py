"""Data-layer core shared by every model: the declarative base, session factory and enum column type.

Schema-compatible stand-in for the legacy sample-platform ``database`` module (see SCHEMA.md §1).
"""
import secrets
import string
from collections.abc import Iterator
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import String, create_engine
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, scoped_session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

from exceptions import EnumParsingException, FailedToSpawnDBSession

IN_MEMORY_SQLITE = 'sqlite:///:memory:'
ALPHANUMERIC = string.ascii_letters + string.digits
GITHUB_TIMESTAMP_FORMAT = '%Y-%m-%dT%H:%M:%SZ'

db_engine: Engine | None = None


class Base(DeclarativeBase):
    """Declarative base of every legacy model; ``Base.metadata`` holds all 30 tables once the models are imported.

    Every mapped table inherits the MySQL option ENGINE=InnoDB from here (the two plain link tables do not, as in
    the legacy). ``query`` is None until :func:`create_session` binds it to its newest scoped session.
    """

    __table_args__: ClassVar[dict[str, str]] = {'mysql_engine': 'InnoDB'}
    query: ClassVar[Any] = None


def create_session(db_string: str, drop_tables: bool = False) -> scoped_session:
    """Return a new scoped session on the process-wide engine and make sure all tables exist.

    Like the legacy: the engine is built on the first call only (later ``db_string`` values are ignored), an
    in-memory SQLite database is shared by all sessions, ``Base.query`` is rebound to the new session, tables are
    dropped first when asked and ``create_all`` always runs. Any SQLAlchemy error becomes FailedToSpawnDBSession.
    """
    global db_engine
    try:
        if db_engine is None:
            db_engine = _create_engine(db_string)
        db_session = scoped_session(sessionmaker(bind=db_engine))
        Base.query = db_session.query_property()
        if drop_tables:
            Base.metadata.drop_all(bind=db_engine)
        Base.metadata.create_all(bind=db_engine)
        return db_session
    except SQLAlchemyError as error:
        print(error)
        raise FailedToSpawnDBSession(str(error)) from error


def _create_engine(db_string: str) -> Engine:
    """Build the engine; an in-memory SQLite database gets one shared connection usable from any thread."""
    if db_string == IN_MEMORY_SQLITE:
        return create_engine(db_string, connect_args={'check_same_thread': False}, poolclass=StaticPool)
    return create_engine(db_string)


def random_string(length: int, alphabet: str = ALPHANUMERIC) -> str:
    """Cryptographically random string (tokens, generated passwords and FTP account names)."""
    return ''.join(secrets.choice(alphabet) for _ in range(length))


def parse_github_timestamp(value: str) -> datetime:
    """Naive datetime from a GitHub webhook timestamp ``YYYY-MM-DDTHH:MM:SSZ`` (issues, releases)."""
    return datetime.strptime(value, GITHUB_TIMESTAMP_FORMAT)


class EnumSymbol:
    """One member of a DeclEnum: attribute ``name``, stored ``value`` and human ``description``.

    Symbols are singletons compared by identity; iterating one yields ``(value, description)`` so it can serve
    directly as a form choice.
    """

    def __init__(self, cls_: type, name: str, value: str, description: str) -> None:
        self.cls_ = cls_
        self.name = name
        self.value = value
        self.description = description

    def __reduce__(self) -> tuple[Any, tuple[type, str]]:
        """Unpickle to the very same singleton of the enum class."""
        return getattr, (self.cls_, self.name)

    def __iter__(self) -> Iterator[str]:
        """Yield the stored value, then the description."""
        return iter((self.value, self.description))

    def __repr__(self) -> str:
        return f'<{self.name}>'


class EnumMeta(type):
    """Metaclass turning every public 2-tuple class attribute ``(value, description)`` into an EnumSymbol.

    Symbols are registered per class by stored value, in definition order; other attributes stay plain.
    """

    def __init__(cls, classname: str, bases: tuple[type, ...], dict_: dict[str, Any]) -> None:
        cls._registry = registry = dict(getattr(cls, '_registry', {}))
        for name, attribute in dict_.items():
            if isinstance(attribute, tuple) and len(attribute) == 2 and not name.startswith('_'):
                symbol = EnumSymbol(cls, name, *attribute)
                registry[symbol.value] = symbol
                setattr(cls, name, symbol)
        super().__init__(classname, bases, dict_)

    def __iter__(cls) -> Iterator[EnumSymbol]:
        """Iterate the symbols in definition order."""
        return iter(cls._registry.values())


class DeclEnum(metaclass=EnumMeta):
    """Base of the enums stored in VARCHAR(50) columns; subclasses declare ``name = (value, description)``."""

    _registry: ClassVar[dict[str, EnumSymbol]] = {}

    @classmethod
    def from_string(cls, value: str) -> EnumSymbol:
        """The symbol whose stored value is ``value``; prints and raises EnumParsingException when none is."""
        try:
            return cls._registry[value]
        except KeyError:
            message = f'Invalid value for {cls.__name__}: {value}'
            print(message)
            raise EnumParsingException(message) from None

    @classmethod
    def values(cls) -> list[str]:
        """The stored values, in definition order."""
        return list(cls._registry)

    @classmethod
    def db_type(cls) -> 'DeclEnumType':
        """Column type storing this enum's symbols."""
        return DeclEnumType(cls)


class DeclEnumType(TypeDecorator):
    """VARCHAR(50) column type that stores ``symbol.value`` and loads symbols back (whitespace stripped)."""

    impl = String(50)
    cache_ok = True

    def __init__(self, enum: type[DeclEnum]) -> None:
        self.enum = enum
        super().__init__()

    def process_bind_param(self, value: EnumSymbol | None, dialect: Dialect) -> str | None:
        """Store the symbol's value (None stays NULL)."""
        if value is None:
            return None
        return value.value

    def process_result_value(self, value: str | None, dialect: Dialect) -> EnumSymbol | None:
        """Map a stored value to its symbol (NULL → None); an unknown value raises EnumParsingException."""
        if value is None:
            return None
        return self.enum.from_string(value.strip())
