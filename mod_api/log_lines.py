"""One line of a run log as the contract's LogLine: timestamp, level, source and message (rules in docs/logs.md).

Run logs (``LogFiles/<run id>.txt``) are whatever the CI VM wrote: its shell scripts, the test suite, curl's replies
from the progress reporter, sometimes build output. Nothing is structured, so each line is read on its own:

* :func:`parse` finds what the line states at its start: a timestamp and a level (``docs/logs.md`` §1-2), and the
  message after them.
* :class:`Clock` gives lines without a timestamp the previous line's (the file's modification time before the
  first stamped line) and dates the time-only stamps (§1).
* :func:`entries` reads lines from a :class:`mod_api.storage.LineReader` into :class:`Entry` objects (None for a
  blank line). An Entry works out its ``level`` (stated, else ``error`` for a line that reads like a failure, else
  ``info``, §2) and its ``source`` (§3) only when asked, so scanning a log for a filter costs little per line.
* :class:`SampleMarkers` decides which lines belong to one sample (§5).

Everything here is pure (no database, no storage) and bounded: at most :data:`SCAN_CHARACTERS` of a line are
examined for its prefix, level and source, and a message is cut to :data:`MAX_MESSAGE` characters.
"""
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import cached_property

from mod_api.storage import Line

LEVELS = ('debug', 'info', 'warning', 'error', 'critical')
SOURCES = ('orchestrator', 'worker', 'build', 'test_runner', 'web')
MAX_MESSAGE = 4000
SCAN_CHARACTERS = 8000  # of a (possibly huge) line, the part parsing and source rules look at
PREFIX_TOKENS = 3  # timestamp, level, and a second timestamp or level after them at most

LEVEL_WORDS = {'DEBUG': 'debug', 'INFO': 'info', 'WARN': 'warning', 'WARNING': 'warning', 'ERROR': 'error',
               'CRITICAL': 'critical', 'FATAL': 'critical', 'FATAL ERROR': 'critical', 'NOTE': 'info'}
_WORDS = 'DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL'
_MONTHS = ('Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec')

# --- §1 timestamps ------------------------------------------------------------------------------------------------
_OPEN, _CLOSE = r'(?P<open>\[)?', r'(?(open)\])'  # an optional pair of square brackets around the stamp
_TIME = r'(?P<h>[01]\d|2[0-3]):(?P<mi>[0-5]\d):(?P<s>[0-5]\d|60)(?:[.,](?P<f>\d{1,9}))?'
_ZONE = r'(?:(?:Z|\s?UTC|\s?GMT)|\s?(?P<off>[+-](?:[01]\d|2[0-3]):?[0-5]\d))?(?!\w|:\d)'
STAMPS = (
    # 2024-05-17 12:00:01, 2024-05-17T12:00:01.123+02:00, 2024/05/17 12:00:01 (rclone), ,123 (Python logging)
    re.compile(rf'{_OPEN}(?P<y>\d{{4}})(?P<sep>[-/])(?P<mo>\d{{2}})(?P=sep)(?P<d>\d{{2}})[T ]{_TIME}{_ZONE}{_CLOSE}'),
    # Fri May 17 12:00:01 UTC 2024 (date(1) in shell scripts)
    re.compile(rf'{_OPEN}(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?P<month>{"|".join(_MONTHS)}) {{1,2}}(?P<d>\d{{1,2}}) '
               rf'{_TIME} (?:(?:UTC|GMT) )?(?P<y>\d{{4}}){_CLOSE}'),
    # [12:00:01], or 12:00:01 followed by a space: a time of day only
    re.compile(rf'{_OPEN}{_TIME}(?(open)\]|(?=\s|$))'),
)

# --- §2 levels ----------------------------------------------------------------------------------------------------
_LEVEL_AT_START = (
    re.compile(rf'[\[<(](?P<w>{_WORDS})[\]>)]', re.IGNORECASE),  # [INFO] <error> (Warning)
    re.compile(rf'(?P<w>{_WORDS})(?=\s*[:|]|\s+-\s|\s)'),  # INFO message, ERROR: message, WARNING - message
    re.compile(rf'(?P<w>{_WORDS})\s*:\s', re.IGNORECASE),  # Error: message
)
_LEVEL_INSIDE = (
    re.compile(rf'\blevel=["\']?(?P<w>{_WORDS})\b', re.IGNORECASE),  # logfmt
    re.compile(rf'^[^\s:]+:(?:\d+:){{0,2}}\s*(?P<w>fatal error|{_WORDS}|note)\s*:\s', re.IGNORECASE),  # tool: error:
)
# FAILURE and BENIGN are matched against the lower-cased message.
FAILURE = re.compile(
    r"\b(?:errors?|fail(?:ed|ure|ures|s)?|fatal|exception|traceback|segmentation fault|core dumped|abort(?:ed)?"
    r"|panic(?:ked)?|cannot|can't|could not|couldn't|unable to|no such file|permission denied|not found|timed out"
    r"|non-zero exit|exit(?:ed)? with (?:status|code) [1-9]\d*|exit (?:status|code) [1-9]\d*)\b")
BENIGN = re.compile(r'\b(?:0|no|zero|without) (?:errors?|failures?|fail(?:ed|s)?)\b|\b(?:errors?|failures?|failed)'
                    r'\s*[:=]\s*0\b')

# --- §3 sources, matched against the lower-cased message ----------------------------------------------------------
# First, a line that starts with the name of the program that wrote it (alternatives in priority order).
SOURCE_PREFIX = re.compile(
    r'(?P<test_runner>(?:tester|ccextractortester|ccx_?testsuite|ccextractor ?tester)\b)'
    r'|(?P<orchestrator>(?:runci|bootstrap|startup-script|ci-vm|gcsfuse|rclone|gsutil)\b)'
    r'|(?P<build>(?:cmake|make(?:\[\d+\])?|gcc|g\+\+|cc|c\+\+|clang(?:\+\+)?|ld|ninja|msbuild|cargo|rustc'
    r'|autoreconf|(?:\./)?configure|(?:\./)?build(?:\.sh|\.bat)?)(?:\s|:|$))'
    r'|(?P<web>(?:curl|wget)\b)')
# Else, what the line is about: the first rule whose ``start`` matches at the start or whose ``inside`` is found.
# (Each pattern is one alternation behind a common prefix: Python's re tries a top-level alternation at every
# position, which costs ten times more on every line of a log.)
SOURCE_RULES = tuple((source, re.compile(start) if start else None, re.compile(inside)) for source, start, inside in (
    ('web', r'posting \S+ - .* to the server|(?:ok|fail|empty)$',
     r'\b(?:progress-reporter|https?/\d|(?:get|post|put|patch|delete|head) /\S|http (?:status|error|code)\b)'),
    ('test_runner', r'\[\d+/\d+\]|(?:running|run) (?:tests?|entry)\b|test (?:entry|\d+)\b|ccextractor\s+-',
     r'\b(?:ccextractortester\b|regression test \d)'),
    ('build', r'-- |\[\s*\d+%\]|(?:compiling|linking|building)\b',
     r'\.(?:c|cc|cpp|cxx|h|hpp|rs):\d|\b(?:(?:warning|error) c\d{4}\b|error\[e\d{4}\]|build (?:succeeded|failed'
     r'|finished)\b)'),
    ('orchestrator', None,
     r'\b(?:vm(?:_data)?\b|unsafe-ccextractor|maintenance\b|shutdown\b|loaded variables|artifact\b|metadata\b'
     r'|mount(?:ed|ing)?\b|startup\b)'),
))
DEFAULT_SOURCE = 'worker'

# --- §4 messages: terminal escape sequences and control characters are removed ------------------------------------
_ESCAPES = re.compile(
    r'(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]'  # CSI (colours, cursor moves), 7- and 8-bit
    r'|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?'  # OSC/DCS/SOS/PM/APC strings
    r'|\x1b[ -/]*[0-~]?')  # any other escape
_CONTROLS = re.compile(r'[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]')  # C0 (but tab, CR, LF), DEL and C1

# --- §5 samples ---------------------------------------------------------------------------------------------------
_SHA = re.compile(r'(?<![0-9a-f])[0-9a-f]{64}')
_REGRESSION_TEST = re.compile(r'\bregression[ _-]?test[ #:=]*(\d{1,10})\b', re.IGNORECASE)


@dataclass(frozen=True)
class Stamp:
    """A timestamp found on a line: a full moment (aware, UTC), or only a time of day (``moment`` None)."""

    moment: datetime | None = None
    time_of_day: time | None = None


@dataclass(frozen=True)
class Parsed:
    """What one line states at its start (stamp and level, when present) and its message (cut)."""

    stamp: Stamp | None
    level: str | None
    message: str


@dataclass(frozen=True)
class Entry:
    """One non-blank log line: byte range in the file, resolved timestamp, message, raw text.

    ``level`` and ``source`` are worked out on first use, so that scanning for a filter only pays for what it reads.
    """

    start: int
    end: int
    timestamp: datetime
    message: str
    text: str
    stated_level: str | None = None

    @cached_property
    def level(self) -> str:
        """The level the line states (at its start or after a tool name), else error for a failure, else info."""
        return (self.stated_level or _level_inside(self.message)
                or ('error' if looks_like_failure(self.message) else 'info'))

    @cached_property
    def source(self) -> str:
        """The source the message's shape points to."""
        return source_of(self.message)


def visible_text(text: str) -> str:
    """What a terminal would show of the line: escapes and control characters removed, the last CR segment kept.

    Escapes of every kind go (OSC, DCS, 8-bit CSI, not only colours): a served line could otherwise retitle or
    hyperlink a client's terminal.
    """
    if not text.isprintable():
        text = _CONTROLS.sub('', _ESCAPES.sub('', text))
    if '\r' in text:
        shown = [segment for segment in text.split('\r') if segment.strip()]
        text = shown[-1] if shown else ''
    return text


def parse(text: str) -> Parsed | None:
    """The stamp and level stated at the start of one line of text, and its message; None for a blank line."""
    text = visible_text(text)
    head = text[:SCAN_CHARACTERS].strip()
    if not head:
        return None
    stamp, level, rest = _prefix(head)
    return Parsed(stamp, level, (rest or head)[:MAX_MESSAGE])


def _prefix(head: str) -> tuple[Stamp | None, str | None, str]:
    """The leading stamp and level of a line (in either order), and the rest after their separators."""
    stamp: Stamp | None = None
    level: str | None = None
    rest = head
    for _ in range(PREFIX_TOKENS):
        found = None
        if stamp is None:
            stamp, found = _stamp_at_start(rest)
        if found is None and level is None:
            level, found = _level_at_start(rest)
        if found is None:
            break
        rest = rest[found:].lstrip()
        rest = rest[1:].lstrip() if rest[:1] in ('|', ':') or rest[:2] == '- ' else rest
    return stamp, level, rest


def _stamp_at_start(text: str) -> tuple[Stamp | None, int | None]:
    """The stamp at the start of ``text`` and where it ends, or (None, None)."""
    for pattern in STAMPS:
        match = pattern.match(text)
        if match is not None:
            stamp = _stamp(match)
            if stamp is not None:
                return stamp, match.end()
    return None, None


def _stamp(match: re.Match[str]) -> Stamp | None:
    """The Stamp of a STAMPS match; None when it names no real moment (month 13, February 30, ...)."""
    groups = match.groupdict()
    try:
        time_of_day = time(int(groups['h']), int(groups['mi']), min(int(groups['s']), 59),
                           int((groups['f'] or '0')[:6].ljust(6, '0')))
        if groups.get('y') is None:
            return Stamp(time_of_day=time_of_day)
        month = _MONTHS.index(groups['month']) + 1 if groups.get('month') else int(groups['mo'])
        day = date(int(groups['y']), month, int(groups['d']))
    except ValueError:
        return None
    moment = datetime.combine(day, time_of_day, _zone(groups.get('off')))
    return Stamp(moment=moment.astimezone(timezone.utc))


def _zone(offset: str | None) -> timezone:
    """The zone of an offset such as ``+02:00`` / ``-0500``; UTC without one (the platform writes UTC)."""
    if not offset:
        return timezone.utc
    digits = offset[1:].replace(':', '')
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return timezone(-delta if offset[0] == '-' else delta)


def _level_at_start(text: str) -> tuple[str | None, int | None]:
    """The level word at the start of ``text`` (bracketed, bare upper case, or ``Word:``) and where it ends."""
    for pattern in _LEVEL_AT_START:
        match = pattern.match(text)
        if match is not None:
            return LEVEL_WORDS[match.group('w').upper()], match.end()
    return None, None


def _level_inside(text: str) -> str | None:
    """A level stated after the prefix: ``level=...`` anywhere, or ``tool: error:`` / ``file:12:5: warning:``."""
    for pattern in _LEVEL_INSIDE:
        match = pattern.search(text)
        if match is not None:
            return LEVEL_WORDS[' '.join(match.group('w').upper().split())]
    return None


def looks_like_failure(message: str) -> bool:
    """True when a message without a level reads like a failure (the FAILURE words, BENIGN phrases ignored)."""
    return FAILURE.search(BENIGN.sub(' ', message[:SCAN_CHARACTERS].lower())) is not None


def source_of(message: str) -> str:
    """The source a message's shape points to: SOURCE_PREFIX, else the first matching SOURCE_RULES, else worker."""
    lower = message[:SCAN_CHARACTERS].lower()
    match = SOURCE_PREFIX.match(lower)
    if match is not None:
        return match.lastgroup or DEFAULT_SOURCE
    for source, start, inside in SOURCE_RULES:
        if (start is not None and start.match(lower)) or inside.search(lower):
            return source
    return DEFAULT_SOURCE


class Clock:
    """The timestamps of a file's lines: stamped lines set it, the others inherit the last stamp.

    ``last`` is the last full moment seen (None before the first stamped line: lines then get ``mtime``, the
    file's modification time). A time-only stamp takes the date of ``last`` (the next day when that would go back
    more than 12 hours: midnight passed), or before any stamped line the date of ``mtime`` (the day before when
    that would be later than ``mtime``: a log has no line written after the file was).
    """

    ROLLOVER = timedelta(hours=12)

    def __init__(self, mtime: datetime, last: datetime | None = None) -> None:
        self.mtime = mtime.astimezone(timezone.utc)
        self.last = last

    def stamp(self, stamp: Stamp | None) -> datetime:
        """The timestamp of a line carrying ``stamp`` (None: inherited); moves the clock."""
        if stamp is None:
            return self.last or self.mtime
        moment = stamp.moment or self._dated(stamp.time_of_day)
        self.last = moment
        return moment

    def _dated(self, time_of_day: time | None) -> datetime:
        reference = self.last or self.mtime
        moment = datetime.combine(reference.date(), time_of_day or time(), timezone.utc)
        if self.last is not None and moment < self.last - self.ROLLOVER:
            return moment + timedelta(days=1)
        if self.last is None and moment > self.mtime:
            return moment - timedelta(days=1)
        return moment


def entries(lines: Iterable[Line], clock: Clock) -> Iterator[tuple[Line, Entry | None]]:
    """Each line with its Entry (None for a blank line), timestamped by ``clock``."""
    for line in lines:
        parsed = parse(line.text)
        if parsed is None:
            yield line, None
        else:
            yield line, Entry(line.start, line.end, clock.stamp(parsed.stamp), parsed.message, line.text,
                              parsed.level)


@dataclass(frozen=True)
class SampleMarkers:
    """Which lines belong to one sample (docs/logs.md §5).

    A line *names* a sample when it holds its SHA-256 (so its file name, its path and the output names derived from
    it; case-insensitive, not preceded by another hex digit) or ``regression test <id>`` of one of its regression
    tests. A line naming the sample belongs to it and opens its block; the lines after it belong to it too, until a
    line names another sample of the run or comes from the orchestrator (the test suite is over).
    """

    shas: frozenset[str]
    regression_ids: frozenset[int]
    other_shas: frozenset[str]
    other_regression_ids: frozenset[int]

    def follow(self, entry: Entry, inside: bool) -> tuple[bool, bool]:
        """Whether ``entry`` belongs to the sample, and whether the sample's block is open after it."""
        own, other = self._named(entry.text)
        if own:
            return True, True
        if other or not inside or entry.source == 'orchestrator':
            return False, False
        return True, True

    def _named(self, text: str) -> tuple[bool, bool]:
        """(names this sample, names another sample of the run)."""
        shas = {match.group() for match in _SHA.finditer(text.lower())} if len(text) >= 64 else set()
        ids = {int(match.group(1)) for match in _REGRESSION_TEST.finditer(text)}
        own = bool(shas & self.shas or ids & self.regression_ids)
        return own, bool(shas & self.other_shas or ids & self.other_regression_ids)
