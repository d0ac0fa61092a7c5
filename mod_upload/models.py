"""Sample upload metadata, the upload queue and log, and pure-ftpd accounts (SCHEMA §2.8)."""

from sqlalchemy import Column, ForeignKey, Integer, String, Text
from sqlalchemy.orm import relationship

from database import Base, DeclEnum, EnumSymbol, random_string

FTP_HOME_ROOT = '/repository/ftpd'
FTP_SYSTEM_ID = 2015


class Platform(DeclEnum):
    """Operating system an uploader ran CCExtractor on."""

    linux = 'linux', 'Linux'
    windows = 'windows', 'Windows'
    mac = 'mac', 'Mac'
    bsd = 'bsd', 'BSD'


class FTPActive(DeclEnum):
    """Whether an FTP account is usable (stored ``0``/``1`` for pure-ftpd)."""

    disabled = '0', 'Disabled'
    enabled = '1', 'Enabled'


class Upload(Base):
    """Metadata of a finalised sample upload: who uploaded it, with which CCExtractor version and how."""

    __tablename__ = 'upload'

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey('user.id', onupdate='CASCADE', ondelete='RESTRICT'))
    user = relationship('User')
    sample_id = Column(Integer, ForeignKey('sample.id', onupdate='CASCADE', ondelete='CASCADE'))
    sample = relationship('Sample', back_populates='upload')
    version_id = Column(Integer, ForeignKey('ccextractor_version.id', onupdate='CASCADE', ondelete='RESTRICT'))
    version = relationship('CCExtractorVersion')
    platform = Column(Platform.db_type(), nullable=False)
    parameters = Column(Text(), nullable=False)
    notes = Column(Text(), nullable=False)

    def __init__(self, user_id: int, sample_id: int, version_id: int, platform: EnumSymbol, parameters: str = '',
                 notes: str = '') -> None:
        """Record an upload; ``platform`` is a :class:`Platform` symbol."""
        self.user_id = user_id
        self.sample_id = sample_id
        self.version_id = version_id
        self.platform = platform
        self.parameters = parameters
        self.notes = notes


class QueuedSample(Base):
    """An uploaded file waiting to be finalised, stored in ``QueuedFiles/``; its ``extension`` includes the dot."""

    __tablename__ = 'upload_queue'

    id = Column(Integer, primary_key=True)
    sha = Column(String(128), unique=True)
    extension = Column(String(64), nullable=False)
    original_name = Column(Text(), nullable=False)
    user_id = Column(Integer, ForeignKey('user.id', onupdate='CASCADE', ondelete='RESTRICT'))
    user = relationship('User')

    def __init__(self, sha: str, extension: str, original_name: str, user_id: int) -> None:
        """Queue an upload."""
        self.sha = sha
        self.extension = extension
        self.original_name = original_name
        self.user_id = user_id

    @property
    def filename(self) -> str:
        """Name of the queued file: sha plus extension (which already has its dot)."""
        return self.sha + self.extension


class UploadLog(Base):
    """A message about a user's uploads."""

    __tablename__ = 'upload_log'

    id = Column(Integer, primary_key=True)
    message = Column(Text(), nullable=False)
    user_id = Column(Integer, ForeignKey('user.id', onupdate='CASCADE', ondelete='RESTRICT'))
    user = relationship('User')

    def __init__(self, message: str, user_id: int) -> None:
        """Log ``message`` for user ``user_id``."""
        self.message = message
        self.user_id = user_id


class FTPCredentials(Base):
    """A pure-ftpd account of a platform user, read directly by pure-ftpd (password in plain text)."""

    __tablename__ = 'ftpd'

    user_id = Column(Integer, ForeignKey('user.id', onupdate='CASCADE', ondelete='RESTRICT'), primary_key=True)
    user = relationship('User')
    user_name = Column(String(32), nullable=False)
    status = Column(FTPActive.db_type(), nullable=False)
    password = Column(String(64), nullable=False)
    dir = Column(String(128), nullable=False)
    ip_access = Column(String(16), nullable=False)
    quota_files = Column(Integer, nullable=False)
    uid = Column(Integer, nullable=False, default=FTP_SYSTEM_ID)
    gid = Column(Integer, nullable=False, default=FTP_SYSTEM_ID)

    def __init__(self, user_id: int, user_name: str | None = None, status: EnumSymbol = FTPActive.enabled,
                 password: str | None = None, home_directory: str | None = None, ip_access: str = '*',
                 quota_files: int = 20) -> None:
        """Create an account; missing name/password are random (32/64 letters and digits), home is per user."""
        self.user_id = user_id
        self.user_name = random_string(32) if user_name is None else user_name
        self.status = status
        self.password = random_string(64) if password is None else password
        self.dir = f'{FTP_HOME_ROOT}/{user_id}' if home_directory is None else home_directory
        self.ip_access = ip_access
        self.quota_files = quota_files
