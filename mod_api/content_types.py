"""The media type the API announces for a platform output file, from its extension.

One table, shared by every response that names or serves an output file (OutputFile ``content_type``). The
extension is the output's ``correct_extension``; it is matched without its leading dot and ignoring case, so the
legacy installer's ``srt`` (stored without the dot, SCHEMA.md trap 16) maps like ``.srt``.
"""

DEFAULT_CONTENT_TYPE = 'application/octet-stream'
CONTENT_TYPES = {
    'srt': 'application/x-subrip',
    'txt': 'text/plain',
    'ttxt': 'text/plain',
    'xml': 'application/xml',
    'dfxp': 'application/xml',
    'vtt': 'text/vtt',
    'zip': 'application/zip',
}


def content_type_for(extension: str | None) -> str:
    """The media type of a file with this extension (``.srt`` or ``srt``); octet-stream when unknown."""
    key = (extension or '').strip().lstrip('.').lower()
    return CONTENT_TYPES.get(key, DEFAULT_CONTENT_TYPE)
