"""File contents of the benchmark dataset and where they go in the sample repository (SCHEMA.md §6.1).

Every content is a pure function of its identity (and of the generator's seed for logs), so the database rows can
name files by their SHA-256 before the files are written, and two generations with one seed write the same bytes.
"""
import hashlib
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Optional

REPOSITORY_FOLDERS = ('TempFiles', 'LogFiles', 'TestResults', 'TestFiles', 'TestFiles/media', 'QueuedFiles')
CUES = ('Good evening, and welcome to the late news.', 'Heavy rain is expected across the north tonight.',
        'Drivers are advised to take care on exposed roads.', 'In sport, the home side won by two goals to one.',
        '[MUSIC]', 'A bright start in the east, but cloud will build from the west.',
        'Highs of fourteen degrees, feeling colder in the wind.', 'CC1: Stay tuned for the weather.')
# How an output file of a regression test can look: the reference, an accepted variant, or a differing upload.
REFERENCE, VARIANT, DIFFERING = 'reference', 'variant', 'differing'


def sha256(content: bytes) -> str:
    """SHA-256 hex of ``content``: how the platform names samples and output files."""
    return hashlib.sha256(content).hexdigest()


def sample_content(sample_number: int) -> bytes:
    """A small stand-in for a sample's media file (MPEG-TS packets); its SHA-256 is the sample's ``sha``."""
    header = b'\x47\x40\x00\x10' + sample_number.to_bytes(4, 'big')
    return (header + bytes(180)) * 8


def output_content(output_id: int, kind: str = REFERENCE, version: int = 0) -> bytes:
    """An SRT subtitle file of regression test output ``output_id``.

    ``kind`` REFERENCE is the expected file; VARIANT ``version`` n is an accepted variant (timings one frame off);
    DIFFERING ``version`` n is what a broken build uploaded (a cue lost, one text changed), so diffs have content.
    """
    rng = random.Random(output_id)
    count = 20 + rng.randrange(60)
    cues = []
    for number in range(1, count + 1):
        start = number * 2500 + rng.randrange(400)
        if kind == VARIANT:
            start += 33 * (version + 1)
        text = CUES[rng.randrange(len(CUES))]
        if kind == DIFFERING and number % (7 + version) == 0:
            continue
        if kind == DIFFERING and number == 3 + version:
            text = text.upper()
        cues.append(f'{number}\n{_srt_time(start)} --> {_srt_time(start + 2000)}\n{text}\n')
    return '\n'.join(cues).encode('utf-8')


def _srt_time(milliseconds: int) -> str:
    seconds, millis = divmod(milliseconds, 1000)
    minutes, seconds = divmod(seconds, 60)
    return f'{minutes // 60:02d}:{minutes % 60:02d}:{seconds:02d},{millis:03d}'


def write_file(repository: Path, relative: str, content: bytes) -> None:
    """Write ``content`` at ``relative`` in the repository (creating folders); content-addressed names repeat."""
    path = repository / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def write_log(path: Path, lines: Iterable[str]) -> int:
    """Write a run log line by line (buffered, never whole in memory); returns its size in bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open('w', encoding='utf-8', newline='\n', buffering=1 << 20) as handle:
        for line in lines:
            handle.write(line)
            handle.write('\n')
    return path.stat().st_size


@dataclass(frozen=True)
class LogEntry:
    """What a worker log says about one regression test: its command, sample file and how it ended."""

    regression_id: int
    command: str
    sample_file: str
    exit_code: int
    expected_rc: int
    failure: Optional[str]


def worker_log(vm_name: str, commit: str, started: datetime, entries: list[LogEntry], size: int) -> Iterator[str]:
    """Lines of a worker log like the CI VM uploads (runCI, then the tester per regression test), about ``size`` bytes.

    Each regression test gets a block naming its sample file (how the API attributes lines to samples, docs/logs.md
    §5) padded with decoder progress lines, so the log reaches ``size`` with realistic content.
    """
    moment = started
    per_entry = max(0, size - 600) // max(1, len(entries))

    def stamp(seconds: float = 1.0) -> str:
        nonlocal moment
        moment += timedelta(seconds=seconds)
        return f'{moment:%Y-%m-%d %H:%M:%S} UTC'

    yield f'{stamp(0)} [INFO] runCI: loaded variables for {vm_name} (commit {commit})'
    yield f'{stamp(3)} [INFO] runCI: downloading the CCExtractor build artifact from GitHub Actions'
    yield f'{stamp(40)} [INFO] runCI: reporting status testing'
    yield f'{stamp()} [INFO] tester: {len(entries)} regression tests to run'
    for number, entry in enumerate(entries, 1):
        header = (f'{stamp(2)} [INFO] tester: [{number}/{len(entries)}] regression test {entry.regression_id}: '
                  f'ccextractor {entry.command} {entry.sample_file}')
        yield header
        written = len(header)
        frame = 0
        while written < per_entry - 200:
            frame += 25
            line = f'{stamp(0.01)} ccextractor: {entry.sample_file}: processed frame {frame}, {frame // 30} captions'
            written += len(line) + 1
            yield line
        yield f'{stamp()} [INFO] tester: regression test {entry.regression_id} exited with {entry.exit_code}'
        if entry.failure == 'crash':
            yield f'{stamp(0)} [ERROR] tester: regression test {entry.regression_id}: Segmentation fault (core dumped)'
        elif entry.exit_code != entry.expected_rc:
            yield (f'{stamp(0)} [ERROR] tester: regression test {entry.regression_id}: exit code {entry.exit_code}, '
                   f'expected {entry.expected_rc}')
        elif entry.failure == 'diff':
            yield f'{stamp(0)} [WARNING] tester: regression test {entry.regression_id}: output differs; uploaded'
        elif entry.failure == 'missing_output':
            yield f'{stamp(0)} [ERROR] tester: regression test {entry.regression_id}: expected output was not produced'
    yield f'{stamp(3)} [INFO] runCI: reporting status completed'
    filler = 0
    while size and entries == [] and filler < size // 80:
        filler += 1
        yield f'{stamp(0.01)} [INFO] runCI: waiting for the VM to shut down ({filler})'
