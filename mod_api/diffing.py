r"""Line diffs of two texts with :mod:`difflib`, bounded like the contract's Diff schema.

Lines. A text is split after each ``\n`` only (no other character ends a line, so line numbers are those of any
editor). Lines are compared WITH their line ends: ``a\n`` and ``a`` (no newline at the end of the file) differ, and
so do ``a\r\n`` and ``a\n``. The ``text`` of a line is the line without its end (``\n`` or ``\r\n``): a change of
line ends alone shows as a removed and an added line with the same text; the last line of a file that does not end
with a newline is marked ``no_newline``.

Matching. difflib's own matcher takes quadratic time on common inputs (lines repeated tens of times, such as
subtitle timestamps: minutes for a 1 MiB file), so the matching blocks are found first the patience way, in linear
time per level: the common head and tail are matched, then the lines that occur exactly once on each side are
anchors (the longest run of them in the same order on both sides), and each gap between anchors is handled the same
way. A gap without such a line is handed to :class:`difflib.SequenceMatcher` (autojunk on) while the diff's budget
lasts: the gaps matched that way hold at most :data:`MATCHER_BUDGET` pairs of lines (expected lines x actual lines)
in all; a gap beyond it is reported as replaced, whole (a correct diff, not always the shortest). difflib then turns
the blocks into opcodes and hunks as usual. A 1 MiB file takes seconds at worst.

Hunks are difflib's grouped opcodes with ``context`` lines around each change (0-50). Numbers are 1-based; a hunk's
``expected_start`` / ``actual_start`` follow the unified-diff convention: the first line of the hunk on that side,
or, when the hunk has no line on that side (pure insertion or deletion), the line after which the change sits
(0 at the top of the file, e.g. for an empty file). ``expected_count`` / ``actual_count`` are the hunk's lines on
each side.

Bounds (the contract's maxItems and maxLength): at most :data:`MAX_HUNKS` hunks, :data:`MAX_HUNK_LINES` lines per
hunk and :data:`MAX_TEXT` characters per line. What is cut is flagged (``truncated`` on the line, on the hunk, and
on the whole diff) and the counts (added and removed lines, hunks) always cover the whole diff. Only the kept part
is built, so a huge diff costs its counting, not its rendering.
"""
import difflib
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

MAX_HUNKS = 500
MAX_HUNK_LINES = 500
MAX_TEXT = 1000
MAX_CONTEXT = 50
MATCHER_BUDGET = 2_000_000
CONTEXT, ADDED, REMOVED = 'context', 'added', 'removed'
NO_NEWLINE_MARKER = '\\ No newline at end of file'


@dataclass(frozen=True)
class DiffLine:
    """One line of a hunk: its kind, 1-based numbers on each side (None where absent) and its (cut) text."""

    kind: str
    expected_line: int | None
    actual_line: int | None
    text: str
    cut: bool = False
    no_newline: bool = False

    def document(self) -> dict[str, Any]:
        """The contract's hunk line, with ``truncated`` / ``no_newline`` present only when true."""
        document: dict[str, Any] = {'kind': self.kind, 'expected_line': self.expected_line,
                                    'actual_line': self.actual_line, 'text': self.text}
        if self.cut:
            document['truncated'] = True
        if self.no_newline:
            document['no_newline'] = True
        return document


@dataclass(frozen=True)
class Hunk:
    """One group of changes with its context: where it starts and how many lines it spans on each side."""

    expected_start: int
    expected_count: int
    actual_start: int
    actual_count: int
    lines: tuple[DiffLine, ...]
    truncated: bool

    def document(self) -> dict[str, Any]:
        """The contract's hunk (``truncated`` present only when lines were left out)."""
        document: dict[str, Any] = {'expected_start': self.expected_start, 'expected_count': self.expected_count,
                                    'actual_start': self.actual_start, 'actual_count': self.actual_count,
                                    'lines': [line.document() for line in self.lines]}
        if self.truncated:
            document['truncated'] = True
        return document

    def header(self) -> str:
        """The unified-diff hunk header, ``@@ -start,count +start,count @@`` (``,1`` left out like difflib)."""
        return (f'@@ -{_range(self.expected_start, self.expected_count)} '
                f'+{_range(self.actual_start, self.actual_count)} @@')


@dataclass(frozen=True)
class LineDiff:
    """A whole diff: the counts of everything, and the hunks kept within the bounds."""

    added_lines: int
    removed_lines: int
    changed_hunks: int
    hunks: tuple[Hunk, ...]
    truncated: bool

    def summary(self) -> dict[str, int]:
        """The contract's Diff summary."""
        return {'added_lines': self.added_lines, 'removed_lines': self.removed_lines,
                'changed_hunks': self.changed_hunks}


def split_lines(text: str) -> list[str]:
    r"""``text`` cut after every ``\n`` (line ends kept); the last line may lack one; '' has no line."""
    lines = text.split('\n')
    ended = [line + '\n' for line in lines[:-1]]
    return ended + [lines[-1]] if lines[-1] else ended


class AnchoredMatcher(difflib.SequenceMatcher[str]):
    """difflib's opcodes and hunk grouping (``get_opcodes``, ``get_grouped_opcodes``) over :func:`matching_blocks`.

    Those two only read the matching blocks; difflib's own matcher and its index of ``b`` (a second or more for a
    big file) are never used, so difflib is given an empty ``b`` and the ratio methods are meaningless here.
    """

    def __init__(self, a: Sequence[str], b: Sequence[str]) -> None:
        super().__init__(None, a, ())
        self.blocks = matching_blocks(a, b)

    def get_matching_blocks(self) -> list[difflib.Match]:
        """The blocks of :func:`matching_blocks`, ending with difflib's ``(len a, len b, 0)``."""
        return self.blocks


def matching_blocks(a: Sequence[str], b: Sequence[str]) -> list[difflib.Match]:
    """Blocks of equal lines, in order, merged when adjacent; see the module docstring for how they are found."""
    found: list[tuple[int, int, int]] = []
    pending = [(0, len(a), 0, len(b))]
    budget = MATCHER_BUDGET
    while pending:
        alo, ahi, blo, bhi = pending.pop()
        head_i, head_j = alo, blo
        while alo < ahi and blo < bhi and a[alo] == b[blo]:
            alo, blo = alo + 1, blo + 1
        tail_i = ahi
        while alo < ahi and blo < bhi and a[ahi - 1] == b[bhi - 1]:
            ahi, bhi = ahi - 1, bhi - 1
        found += [(head_i, head_j, alo - head_i), (ahi, bhi, tail_i - ahi)]
        if alo == ahi or blo == bhi:
            continue
        anchors = _anchors(a, alo, ahi, b, blo, bhi)
        if anchors:
            found += [(i, j, 1) for i, j in anchors]
            starts = [(alo, blo)] + [(i + 1, j + 1) for i, j in anchors]
            ends = anchors + [(ahi, bhi)]
            pending += [(i1, i2, j1, j2) for (i1, j1), (i2, j2) in zip(starts, ends) if i1 < i2 and j1 < j2]
        elif (ahi - alo) * (bhi - blo) <= budget:
            budget -= (ahi - alo) * (bhi - blo)
            blocks = difflib.SequenceMatcher(None, a[alo:ahi], b[blo:bhi]).get_matching_blocks()
            found += [(alo + i, blo + j, size) for i, j, size in blocks]
    merged: list[list[int]] = []
    for i, j, size in sorted(block for block in found if block[2]):
        if merged and merged[-1][0] + merged[-1][2] == i and merged[-1][1] + merged[-1][2] == j:
            merged[-1][2] += size
        else:
            merged.append([i, j, size])
    return [difflib.Match(i, j, size) for i, j, size in merged] + [difflib.Match(len(a), len(b), 0)]


def _anchors(a: Sequence[str], alo: int, ahi: int, b: Sequence[str], blo: int, bhi: int) -> list[tuple[int, int]]:
    """The patience anchors of ``a[alo:ahi]`` and ``b[blo:bhi]``, as positions ``(i, j)``.

    Lines found exactly once on each side, keeping the longest run of them in the same order on both sides.
    """
    in_a, in_b = Counter(a[alo:ahi]), Counter(b[blo:bhi])
    where_b = {line: j for j, line in enumerate(b[blo:bhi], blo) if in_b[line] == 1}
    pairs = [(i, where_b[line]) for i, line in enumerate(a[alo:ahi], alo) if in_a[line] == 1 and line in where_b]
    tails: list[int] = []  # tails[k]: index in pairs ending the best increasing run of length k + 1 found so far
    tail_js: list[int] = []
    previous = [-1] * len(pairs)
    for index, (_, j) in enumerate(pairs):
        length = bisect_left(tail_js, j)
        previous[index] = tails[length - 1] if length else -1
        if length == len(tails):
            tails.append(index)
            tail_js.append(j)
        else:
            tails[length], tail_js[length] = index, j
    chain = []
    index = tails[-1] if tails else -1
    while index >= 0:
        chain.append(pairs[index])
        index = previous[index]
    return chain[::-1]


def diff_lines(expected: Sequence[str], actual: Sequence[str], context: int) -> LineDiff:
    """The bounded line diff of two lists of lines (from :func:`split_lines`) with ``context`` lines (0-50)."""
    if not 0 <= context <= MAX_CONTEXT:
        raise ValueError(f'context must be 0 to {MAX_CONTEXT}')
    added = removed = count = 0
    hunks: list[Hunk] = []
    matcher = AnchoredMatcher(expected, actual)
    for group in matcher.get_grouped_opcodes(context):
        count += 1
        for tag, i1, i2, j1, j2 in group:
            if tag in ('replace', 'delete'):
                removed += i2 - i1
            if tag in ('replace', 'insert'):
                added += j2 - j1
        if len(hunks) < MAX_HUNKS:
            hunks.append(_hunk(group, expected, actual))
    truncated = count > MAX_HUNKS or any(hunk.truncated or any(line.cut for line in hunk.lines) for hunk in hunks)
    return LineDiff(added, removed, count, tuple(hunks), truncated)


def _hunk(group: Sequence[tuple[str, int, int, int, int]], expected: Sequence[str], actual: Sequence[str]) -> Hunk:
    """One hunk of opcodes, keeping its first :data:`MAX_HUNK_LINES` lines (the others are only counted)."""
    first_i, last_i, first_j, last_j = group[0][1], group[-1][2], group[0][3], group[-1][4]
    total = sum(i2 - i1 if tag == 'equal' else (i2 - i1) + (j2 - j1) for tag, i1, i2, j1, j2 in group)
    lines = tuple(islice(_hunk_lines(group, expected, actual), MAX_HUNK_LINES))
    return Hunk(_start(first_i, last_i), last_i - first_i, _start(first_j, last_j), last_j - first_j,
                lines, total > len(lines))


def _hunk_lines(group: Sequence[tuple[str, int, int, int, int]], expected: Sequence[str],
                actual: Sequence[str]) -> Iterator[DiffLine]:
    """The lines of a hunk, in order: context lines, and for a change its removed then its added lines."""
    for tag, i1, i2, j1, j2 in group:
        if tag == 'equal':
            for offset in range(i2 - i1):
                yield _line(CONTEXT, i1 + offset, j1 + offset, expected[i1 + offset])
            continue
        for i in range(i1, i2):
            yield _line(REMOVED, i, None, expected[i])
        for j in range(j1, j2):
            yield _line(ADDED, None, j, actual[j])


def _line(kind: str, i: int | None, j: int | None, raw: str) -> DiffLine:
    """A DiffLine from 0-based indexes and the raw line (with its line end)."""
    text = raw[:-2] if raw.endswith('\r\n') else raw[:-1] if raw.endswith('\n') else raw
    return DiffLine(kind, None if i is None else i + 1, None if j is None else j + 1, text[:MAX_TEXT],
                    len(text) > MAX_TEXT, not raw.endswith('\n'))


def _start(first: int, last: int) -> int:
    """1-based start of a side of a hunk; for an empty side the line before it (unified-diff convention)."""
    return first + 1 if last > first else first


def _range(start: int, count: int) -> str:
    return str(start) if count == 1 else f'{start},{count}'


def unified_text(diff: LineDiff, expected_name: str, actual_name: str) -> str:
    r"""The kept hunks as unified-diff text (``---``/``+++`` headers, ``\ No newline at end of file`` markers).

    Lines end with ``\n`` whatever their original line end, and cut lines stay cut: a truncated diff is for
    reading, not for applying. '' when there is no change.
    """
    if not diff.hunks:
        return ''
    prefix = {CONTEXT: ' ', ADDED: '+', REMOVED: '-'}
    out = [f'--- {expected_name}\n', f'+++ {actual_name}\n']
    for hunk in diff.hunks:
        out.append(hunk.header() + '\n')
        for line in hunk.lines:
            out.append(f'{prefix[line.kind]}{line.text}\n')
            if line.no_newline:
                out.append(NO_NEWLINE_MARKER + '\n')
    return ''.join(out)
