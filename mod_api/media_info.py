"""A sample's media-info XML (``TestFiles/media/<sha>.xml``, mediainfo's output) as the Sample's ``media_info``.

Reading: through :mod:`mod_api.storage` (local repository first, else GCS), at most :data:`MAX_BYTES`. A file that
is in no backend leaves ``media_info`` out; a file that cannot be read, is too large or is not acceptable XML also
leaves it out, and is logged (sample id and reason, never the content).

Safety. The document must be UTF-8 (a BOM is allowed; the encoding its XML declaration names is ignored, which is
what mediainfo writes anyway). Any document containing ``<!DOCTYPE`` or ``<!ENTITY`` (in any letter case) is refused
before parsing: without a DTD no entity can be declared, so entity expansion (billion laughs, quadratic blow-up)
and external entities are impossible, and the stdlib parser (``xml.etree.ElementTree``) then only accepts the five
predefined entities and character references. Nesting deeper than :data:`MAX_DEPTH` is refused too.

Conversion to JSON (:func:`to_json`), for the root element and recursively for every element:

* the result is ``{"<root tag>": <root value>}``; tag and attribute names lose their XML namespace
  (``{https://mediaarea.net/mediainfo}track`` → ``track``);
* an element without attributes and without child elements → its text, surrounding whitespace stripped (``""``
  when empty);
* otherwise an object: its attributes under the key :data:`ATTRIBUTES_KEY` (``"@attributes"``, an object of
  strings), its non-blank text (its own text and the text after each child, joined, stripped) under
  :data:`TEXT_KEY` (``"#text"``), and each child under its tag: the child's value when the tag occurs once in that
  element, a list of values in document order when it occurs more than once. Neither key can clash with a tag: XML
  names cannot contain ``@`` or ``#``. Comments and processing instructions are dropped.
"""
import logging
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from typing import Any

from mod_api.storage import FileMissing, Storage, StorageError

log = logging.getLogger('mod_api')

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
ATTRIBUTES_KEY = '@attributes'
TEXT_KEY = '#text'
_REFUSED = re.compile(r'<!(doctype|entity)', re.IGNORECASE)


class MalformedMediaInfo(ValueError):
    """The media-info document is not acceptable XML (not UTF-8, a DTD or entity declaration, too deep, invalid)."""


def media_info_path(sha: str) -> str:
    """Repository path of the media-info XML of the sample with this SHA (SCHEMA.md §6.1)."""
    return f'TestFiles/media/{sha}.xml'


def parse(data: bytes) -> dict[str, Any]:
    """The document as a JSON object by the rules of this module's docstring; raises MalformedMediaInfo."""
    try:
        text = data.decode('utf-8-sig')
    except UnicodeDecodeError:
        raise MalformedMediaInfo('not UTF-8') from None
    if _REFUSED.search(text):
        raise MalformedMediaInfo('DTD or entity declaration refused')
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as error:
        raise MalformedMediaInfo(f'invalid XML ({error})') from None
    return {_local(root.tag): to_json(root)}


def to_json(element: ElementTree.Element, depth: int = 1) -> Any:
    """The JSON value of one element (a string or an object, see the module docstring)."""
    if depth > MAX_DEPTH:
        raise MalformedMediaInfo(f'nested deeper than {MAX_DEPTH} elements')
    children = list(element)
    if not children and not element.attrib:
        return (element.text or '').strip()
    value: dict[str, Any] = {}
    if element.attrib:
        value[ATTRIBUTES_KEY] = {_local(name): text for name, text in element.attrib.items()}
    text = ''.join([element.text or '', *(child.tail or '' for child in children)]).strip()
    if text:
        value[TEXT_KEY] = text
    grouped: dict[str, list[Any]] = {}
    for child in children:
        grouped.setdefault(_local(child.tag), []).append(to_json(child, depth + 1))
    value.update({tag: items[0] if len(items) == 1 else items for tag, items in grouped.items()})
    return value


def _local(name: str) -> str:
    """A tag or attribute name without its ``{namespace}``."""
    return name.rpartition('}')[2]


def load_media_info(storage: Storage, shas: Mapping[int, str]) -> dict[int, dict[str, Any]]:
    """The parsed media info of the samples ``{sample id: sha}`` that have a readable, acceptable file.

    Presence is checked for all of them at once (concurrently, within the storage budget); only files found are
    read. Absent files are left out silently; every other failure is left out and logged.
    """
    paths = {sample_id: media_info_path(sha) for sample_id, sha in shas.items()}
    statuses = storage.status_many(paths.values())
    found: dict[int, dict[str, Any]] = {}
    for sample_id, path in paths.items():
        if not statuses[path].present:
            continue
        try:
            found[sample_id] = parse(storage.read_bytes(path, MAX_BYTES))
        except FileMissing:
            continue  # vanished since the check
        except (StorageError, MalformedMediaInfo) as error:
            log.warning('Media info of sample %s left out: %s', sample_id, error)
    return found
