"""Log fixtures and run builders for the log and artifact tests (every line shape docs/logs.md supports).

:data:`SHAPES` is a run log line by line with what each line must become: (raw line, timestamp, level, source,
message). Timestamps are ISO 8601 with ``Z``; ``MTIME`` marks the lines that inherit the file's modification time.
Written with :func:`write_log`, the file gets modification time :data:`MTIME` and a blank line after the third
line (blank lines are not served).
"""
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from mod_api.db import db
from mod_api.legacy import RegressionTest, RegressionTestOutput, Sample
from mod_api.legacy import Test as Run
from mod_api_tests.runs_data import DONE, add_category, add_regression_test, add_run, add_sample

MTIME = '2024-05-17T12:30:00Z'
MTIME_EPOCH = datetime(2024, 5, 17, 12, 30, tzinfo=timezone.utc).timestamp()
LONG = 'y' * 5000

SHAPES: list[tuple[str, str, str, str, str]] = [
    # no stamp before the first stamped line: the file's modification time
    ('Posting preparation - Loaded variables, created log file and checking for CCExtractor build artifact to the '
     'server:', MTIME, 'info', 'web',
     'Posting preparation - Loaded variables, created log file and checking for CCExtractor build artifact to the '
     'server:'),
    ('OK', MTIME, 'info', 'web', 'OK'),
    # ISO 8601 and its relatives
    ('2024-05-17 12:00:01 UTC [INFO] runCI: loaded variables for linux-1', '2024-05-17T12:00:01Z', 'info',
     'orchestrator', 'runCI: loaded variables for linux-1'),
    ('2024-05-17T12:00:02.250Z ERROR: gcsfuse mount of TestFiles failed, retrying', '2024-05-17T12:00:02.250000Z',
     'error', 'orchestrator', 'gcsfuse mount of TestFiles failed, retrying'),
    ('2024-05-17T14:00:03+02:00 WARNING - rclone: slow transfer', '2024-05-17T12:00:03Z', 'warning', 'orchestrator',
     'rclone: slow transfer'),
    ('[2024-05-17 12:00:04,500] [DEBUG] bootstrap: maintenance mode is False', '2024-05-17T12:00:04.500000Z',
     'debug', 'orchestrator', 'bootstrap: maintenance mode is False'),
    ('2024/05/17 12:00:05 INFO  : TestData/ci-linux: Copied (new)', '2024-05-17T12:00:05Z', 'info', 'worker',
     'TestData/ci-linux: Copied (new)'),
    ('Fri May 17 12:00:06 UTC 2024 Checking for the CCExtractor build artifact', '2024-05-17T12:00:06Z', 'info',
     'orchestrator', 'Checking for the CCExtractor build artifact'),
    # no stamp: inherited; no level: error when it reads like a failure, else info
    ('unzip:  cannot find or open ccextractor.zip', '2024-05-17T12:00:06Z', 'error', 'worker',
     'unzip:  cannot find or open ccextractor.zip'),
    ('-- Configuring done', '2024-05-17T12:00:06Z', 'info', 'build', '-- Configuring done'),
    ('[ 45%] Building C object src/CMakeFiles/ccx.dir/lib_ccx/ccx_common.c.o', '2024-05-17T12:00:06Z', 'info',
     'build', '[ 45%] Building C object src/CMakeFiles/ccx.dir/lib_ccx/ccx_common.c.o'),
    ('src/lib_ccx/ccx_decoders_608.c:120:5: warning: unused variable', '2024-05-17T12:00:06Z', 'warning', 'build',
     'src/lib_ccx/ccx_decoders_608.c:120:5: warning: unused variable'),
    ('gcc: fatal error: no input files', '2024-05-17T12:00:06Z', 'critical', 'build',
     'gcc: fatal error: no input files'),
    ('make[2]: *** [Makefile:12: all] Error 2', '2024-05-17T12:00:06Z', 'error', 'build',
     'make[2]: *** [Makefile:12: all] Error 2'),
    ('Build succeeded. 0 Warning(s) 0 Error(s)', '2024-05-17T12:00:06Z', 'info', 'build',
     'Build succeeded. 0 Warning(s) 0 Error(s)'),
    # time of day only: the date of the last stamp, the next day once midnight passed
    ('[12:00:10] tester: [1/2] regression test 5: ccextractor -autoprogram -out=srt sample.ts',
     '2024-05-17T12:00:10Z', 'info', 'test_runner',
     'tester: [1/2] regression test 5: ccextractor -autoprogram -out=srt sample.ts'),
    ('12:00:11 tester: regression test 5 exited with 1 after 830 ms', '2024-05-17T12:00:11Z', 'info', 'test_runner',
     'tester: regression test 5 exited with 1 after 830 ms'),
    ('[23:59:59] regression test 5: exit code 1, expected 0', '2024-05-17T23:59:59Z', 'error', 'test_runner',
     'regression test 5: exit code 1, expected 0'),
    ('[00:00:02] ccextractor -autoprogram -out=srt sample.ts', '2024-05-18T00:00:02Z', 'info', 'test_runner',
     'ccextractor -autoprogram -out=srt sample.ts'),
    # levels in other positions
    ('level=warning msg="sample took long"', '2024-05-18T00:00:02Z', 'warning', 'worker',
     'level=warning msg="sample took long"'),
    ('<Info> angle-bracketed level', '2024-05-18T00:00:02Z', 'info', 'worker', 'angle-bracketed level'),
    ('tester: ERROR: temporary folder missing', '2024-05-18T00:00:02Z', 'error', 'test_runner',
     'tester: ERROR: temporary folder missing'),
    # web
    ('POST /progress-reporter/1/f00d HTTP/1.1 200', '2024-05-18T00:00:02Z', 'info', 'web',
     'POST /progress-reporter/1/f00d HTTP/1.1 200'),
    ('FAIL', '2024-05-18T00:00:02Z', 'error', 'web', 'FAIL'),
    # terminal output: escapes removed, the last carriage-return segment kept
    ('\x1b[31m[ERROR]\x1b[0m colour codes are removed', '2024-05-18T00:00:02Z', 'error', 'worker',
     'colour codes are removed'),
    ('Downloading 10%\rDownloading 55%\rDownloading 100%', '2024-05-18T00:00:02Z', 'info', 'worker',
     'Downloading 100%'),
    ('Traceback (most recent call last):', '2024-05-18T00:00:02Z', 'error', 'worker',
     'Traceback (most recent call last):'),
    ('[2024-05-18T00:00:05Z][CRITICAL] disk full', '2024-05-18T00:00:05Z', 'critical', 'worker', 'disk full'),
    ('FATAL: out of memory', '2024-05-18T00:00:05Z', 'critical', 'worker', 'out of memory'),
    # not a real date: no stamp, the whole line is the message
    ('2024-02-30 12:00:00 not a real date', '2024-05-18T00:00:05Z', 'info', 'worker',
     '2024-02-30 12:00:00 not a real date'),
    # longer than the contract allows: cut to 4000 characters
    (f'2024-05-18 00:00:06 {LONG}', '2024-05-18T00:00:06Z', 'info', 'worker', LONG[:4000]),
]


def log_bytes(lines: list[str], blank_after: int | None = 2) -> bytes:
    """The lines as a file (LF endings, CRLF on every other line), with a blank line after line ``blank_after``."""
    chunks = []
    for index, line in enumerate(lines):
        chunks.append(line + ('\r\n' if index % 2 else '\n'))
        if index == blank_after:
            chunks.append('   \n')
    return ''.join(chunks).encode('utf-8')


def write_log(repository: Path, run_id: int, data: bytes, mtime: float = MTIME_EPOCH) -> Path:
    """``LogFiles/<run id>.txt`` in the local repository, with modification time ``mtime``."""
    path = repository / 'LogFiles' / f'{run_id}.txt'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def put_local(repository: Path, relative: str, data: bytes = b'content') -> Path:
    """A file of the local repository."""
    path = repository / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@dataclass
class SampleRun:
    """A completed run over samples A (two regression tests) and B; sample C exists but is not in its scope."""

    run: Run
    a: Sample
    b: Sample
    c: Sample
    a1: RegressionTest
    a2: RegressionTest
    b1: RegressionTest
    outputs: dict[str, RegressionTestOutput]


def sample_run(references: tuple[str, ...] = ('d' * 64,)) -> SampleRun:
    """The SampleRun; each regression test has one required output per reference hash (committed)."""
    general = add_category('General')
    a = add_sample(original_name='broadcast')
    b = add_sample(original_name='teletext')
    c = add_sample(original_name='unused')
    outputs = [(reference, False) for reference in references]
    a1, a1_outputs = add_regression_test(general, outputs=outputs, sample=a, command='-autoprogram -out=srt')
    a2, a2_outputs = add_regression_test(general, outputs=outputs, sample=a, command='-1 -out=srt')
    b1, b1_outputs = add_regression_test(general, outputs=outputs, sample=b, command='-autoprogram -out=srt')
    add_regression_test(general, outputs=outputs, sample=c)
    run = add_run(progress=DONE, customized=(a1.id, a2.id, b1.id))
    db.session.commit()
    return SampleRun(run, a, b, c, a1, a2, b1, {'a1': a1_outputs[0], 'a2': a2_outputs[0], 'b1': b1_outputs[0]})


def sample_log(scenario: SampleRun) -> tuple[list[str], dict[str, list[int]]]:
    """A run log of the SampleRun, and the indexes of the lines that belong to A and to B."""
    a, b = scenario.a, scenario.b
    lines = [
        '2024-05-17 12:00:00 UTC [INFO] runCI: reporting status testing',  # 0 orchestrator, no sample
        '2024-05-17 12:00:01 UTC [INFO] tester: 3 regression tests to run',  # 1 no sample named yet
        f'[INFO] tester: [1/3] regression test {scenario.a1.id}: ccextractor -autoprogram -out=srt {a.filename}',
        f'[INFO] tester: regression test {scenario.a1.id} exited with 0 after 100 ms',  # 3 A
        '[INFO] tester: output compared',  # 4 A (block open)
        f'[INFO] tester: [2/3] regression test {scenario.b1.id}: ccextractor -autoprogram {b.sha.upper()}.ts',  # 5 B
        f'[ERROR] tester: {b.sha}_1.srt was not produced',  # 6 B
        '',  # blank: never served
        '[INFO] tester: moving on',  # 8 B (block open)
        f'[INFO] tester: [3/3] regression test {scenario.a2.id}: ccextractor -1 -out=srt /repository/'
        f'TestFiles/{a.filename}',  # 9 A (its second regression test)
        f'[WARNING] tester: {a.sha}.srt differs from the reference',  # 10 A
        '[INFO] runCI: reporting status completed',  # 11 orchestrator: closes the block
        '[INFO] tester: a late line',  # 12 no sample
    ]
    return lines, {'a': [2, 3, 4, 9, 10], 'b': [5, 6, 8]}
