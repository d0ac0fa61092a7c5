"""Platform key/value data and released CCExtractor versions (SCHEMA §2.2)."""
from sqlalchemy import Column, Date, Integer, String, Text

from database import Base, parse_github_timestamp


class GeneralData(Base):
    """Key/value store (values are text): ``last_commit``, ``fetch_commit_<platform>``, averages, ..."""

    __tablename__ = 'general_data'

    id = Column(Integer, primary_key=True)
    key = Column(String(64), unique=True)
    value = Column(Text(), nullable=False)

    def __init__(self, key: str, value: str) -> None:
        """Create one key/value pair."""
        self.key = key
        self.value = value


class CCExtractorVersion(Base):
    """A released CCExtractor version, as announced by a GitHub release webhook."""

    __tablename__ = 'ccextractor_version'

    id = Column(Integer, primary_key=True)
    version = Column(String(10), unique=True)
    released = Column(Date(), unique=True)
    commit = Column(String(64), unique=True)

    def __init__(self, version: str, released: str, commit: str) -> None:
        """Create a version; of ``released``, a GitHub timestamp ``YYYY-MM-DDTHH:MM:SSZ``, only the date is kept."""
        self.version = version
        self.released = parse_github_timestamp(released).date()
        self.commit = commit
