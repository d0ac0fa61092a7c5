"""Where the platform's files live: the local sample repository and, when configured, the GCS bucket.

A relative path under ``SAMPLE_REPOSITORY`` is also the GCS object name (the bucket is mounted there with
gcsfuse in production). Every path handed to this module is validated: nothing outside the repository is
ever reached.
"""
import logging
import os
from pathlib import Path, PurePosixPath
from typing import Any, Optional

from flask import Flask

log = logging.getLogger('mod_api')


class UnsafePath(ValueError):
    """A relative path that would leave the sample repository (absolute, ``..``, NUL, backslash)."""


def safe_relative(relative: str) -> PurePosixPath:
    """Validate a repository-relative path such as ``LogFiles/12.txt``."""
    path = PurePosixPath(relative)
    if (not relative or '\x00' in relative or '\\' in relative or path.is_absolute()
            or any(part in ('..', '.', '') for part in relative.split('/'))):
        raise UnsafePath(relative)
    return path


class Storage:
    """The two storage backends of one app: a local folder and an optional GCS bucket."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.root = Path(config['SAMPLE_REPOSITORY'])
        self.bucket_name = config['GCS_BUCKET_NAME']
        self.endpoint = config['API_GCS_ENDPOINT']
        self.timeout = config['API_GCS_TIMEOUT_SECONDS']
        account_file = config['SERVICE_ACCOUNT_FILE']
        self.credentials_file = (os.path.join(config['INSTALL_FOLDER'], account_file) if account_file else '')
        self._bucket: Any = None

    @property
    def gcs_configured(self) -> bool:
        """True when a bucket name is configured."""
        return bool(self.bucket_name)

    def local_path(self, relative: str) -> Path:
        """The absolute local path of a validated repository-relative path."""
        return self.root.joinpath(*safe_relative(relative).parts)

    def bucket(self) -> Any:
        """The google-cloud-storage bucket (client made on first use), or None when GCS is not configured."""
        if not self.gcs_configured:
            return None
        if self._bucket is None:
            from google.cloud import storage as gcs
            if self.endpoint:
                from google.auth.credentials import AnonymousCredentials
                client = gcs.Client(project='mod-api', credentials=AnonymousCredentials(),
                                    client_options={'api_endpoint': self.endpoint})
            elif self.credentials_file:
                client = gcs.Client.from_service_account_json(self.credentials_file)
            else:
                client = gcs.Client()
            self._bucket = client.bucket(self.bucket_name)
        return self._bucket

    def check_local(self) -> Optional[str]:
        """None when the repository folder is readable, else what is wrong."""
        if not self.root.is_dir():
            return f'{self.root.name or self.root} is not a folder'
        if not os.access(self.root, os.R_OK | os.X_OK):
            return 'sample repository is not readable'
        return None

    def check_gcs(self) -> Optional[str]:
        """None when the bucket answers a cheap metadata call within the timeout, else what is wrong."""
        try:
            if not self.bucket().exists(timeout=self.timeout):
                return f'bucket {self.bucket_name} does not exist'
        except Exception as error:  # noqa: BLE001 - any failure of the backend is reported, not raised
            log.warning('GCS check failed: %s', type(error).__name__)
            return f'GCS unreachable ({type(error).__name__})'
        return None


def init_storage(app: Flask) -> Storage:
    """The Storage of ``app``, built from its resolved settings."""
    return Storage(app.config)
