"""Samples, their extra files, tags and linked GitHub issues, plus the upload filters (SCHEMA §2.5)."""
from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import relationship

from database import Base, parse_github_timestamp

# Sample <-> Tag link table (plain FKs without actions and without the InnoDB option, as in the legacy).
sample_tag_association = Table(
    'sample_tag_association', Base.metadata,
    Column('sample_id', Integer, ForeignKey('sample.id'), primary_key=True),
    Column('tag_id', Integer, ForeignKey('tag.id'), primary_key=True),
)


def get_extension(extension: str) -> str:
    """``extension`` with a leading dot, or the empty string when there is none."""
    return f'.{extension}' if extension else ''


class Sample(Base):
    """A media file regression tests run on, named by the SHA-256 of its content."""

    __tablename__ = 'sample'

    id = Column(Integer, primary_key=True)
    sha = Column(String(128), unique=True)
    extension = Column(String(64), nullable=False)
    original_name = Column(Text(), nullable=False)
    extra_files = relationship('ExtraFile', back_populates='sample')
    tests = relationship('RegressionTest', back_populates='sample')
    upload = relationship('Upload', uselist=False, back_populates='sample')
    tags = relationship('Tag', secondary=sample_tag_association, back_populates='samples')

    def __init__(self, sha: str, extension: str, original_name: str) -> None:
        """Create a sample; ``extension`` has no dot and ``original_name`` no extension."""
        self.sha = sha
        self.extension = extension
        self.original_name = original_name

    @property
    def filename(self) -> str:
        """Name of the file in ``TestFiles/``: the sha plus the extension, if any."""
        return self.sha + get_extension(self.extension)


class ExtraFile(Base):
    """An additional file attached to a sample, stored under ``TestFiles/extra/``."""

    __tablename__ = 'sample_extra'

    id = Column(Integer, primary_key=True)
    sample_id = Column(Integer, ForeignKey('sample.id', onupdate='CASCADE', ondelete='CASCADE'))
    sample = relationship('Sample', back_populates='extra_files')
    original_name = Column(Text(), nullable=False)
    extension = Column(String(64), nullable=False)

    def __init__(self, sample_id: int, extension: str, original_name: str) -> None:
        """Attach an extra file to a sample; ``extension`` has no dot."""
        self.sample_id = sample_id
        self.extension = extension
        self.original_name = original_name

    @property
    def filename(self) -> str:
        """Stored file name ``<sample sha>_<id>[.<extension>]``."""
        return f'{self.sample.sha}_{self.id}{get_extension(self.extension)}'

    @property
    def short_name(self) -> str:
        """Display name ``<first 5 of sha>_<id>.`` + ``.<extension>``: the legacy's double dot is kept on purpose."""
        return f'{self.sample.sha[:5]}_{self.id}.{get_extension(self.extension)}'


class Issue(Base):
    """A GitHub issue linked to a sample, kept up to date by "issues" webhooks."""

    __tablename__ = 'sample_issue'

    id = Column(Integer, primary_key=True)
    sample_id = Column(Integer, ForeignKey('sample.id', onupdate='CASCADE', ondelete='CASCADE'))
    sample = relationship('Sample')
    issue_id = Column(Integer, nullable=False)
    title = Column(Text(), nullable=False)
    user = Column(Text(), nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False)
    status = Column(Text(), nullable=False)

    def __init__(self, sample_id: int, issue_id: int, date: str, title: str, user: str, status: str) -> None:
        """Link an issue; ``date`` is GitHub's ``YYYY-MM-DDTHH:MM:SSZ``, stored as a naive datetime."""
        self.sample_id = sample_id
        self.issue_id = issue_id
        self.created_at = parse_github_timestamp(date)
        self.title = title
        self.user = user
        self.status = status


class Tag(Base):
    """A label that can be put on samples."""

    __tablename__ = 'tag'
    __table_args__ = (Index('tag_name_index', 'name'), Base.__table_args__)

    id = Column(Integer, primary_key=True)
    name = Column(String(64), unique=True, nullable=False)
    description = Column(String(1024))
    samples = relationship('Sample', secondary=sample_tag_association, back_populates='tags')

    def __init__(self, name: str, description: str = '') -> None:
        """Create a tag."""
        self.name = name
        self.description = description


class ForbiddenExtension(Base):
    """A file extension (without dot) that FTP uploads may not have."""

    __tablename__ = 'extension_forbidden'

    extension = Column(String(32), primary_key=True)

    def __init__(self, extension: str) -> None:
        """Forbid an extension."""
        self.extension = extension


class ForbiddenMimeType(Base):
    """A MIME type that FTP uploads may not have."""

    __tablename__ = 'mimetype_forbidden'

    mimetype = Column(String(64), primary_key=True)

    def __init__(self, mime_type: str) -> None:
        """Forbid a MIME type."""
        self.mimetype = mime_type
