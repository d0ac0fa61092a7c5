"""Which ``fork`` rows belong to a GitHub repository, the platform's way (SCHEMA.md §2.3).

The platform finds a repository's row with ``LIKE '%/<owner>/<repo>.git'`` on its clone URL (the main repository's
row included); here the LIKE wildcards of the names are escaped, so ``owner/repo`` matches only itself.
"""
from flask import current_app
from sqlalchemy import ColumnElement

from mod_api.legacy import Fork

LIKE_ESCAPE = '!'


def repository_condition(repository: str) -> ColumnElement[bool]:
    """SQL condition: the ``fork`` row's clone URL ends with ``/<repository>.git`` (``repository`` is owner/repo)."""
    escaped = ''.join(f'{LIKE_ESCAPE}{char}' if char in f'%_{LIKE_ESCAPE}' else char for char in repository)
    return Fork.github.like(f'%/{escaped}.git', escape=LIKE_ESCAPE)


def main_repository() -> str:
    """``owner/repo`` of the platform's main repository (config keys GITHUB_OWNER and GITHUB_REPOSITORY)."""
    return f"{current_app.config['GITHUB_OWNER']}/{current_app.config['GITHUB_REPOSITORY']}"
