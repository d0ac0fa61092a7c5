"""Builders for the result-file and diff tests: samples, regression tests, runs, and the files their rows name.

:func:`build_world` adds (through :mod:`mod_api_tests.runs_data`, then commits) two media samples, their regression
tests and outputs, and four runs; the files the rows name are returned as ``World.files`` (repository path →
bytes) and stored by :func:`store_files` in the local repository, the GCS emulator, both or neither. Reference and
actual files are named by the SHA-256 of their content, like the platform's.
"""
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask

from mod_api.db import db
from mod_api.legacy import RegressionTest, Sample, TestStatus
from mod_api_tests.runs_data import (
    DONE,
    add_category,
    add_customized,
    add_regression_test,
    add_result,
    add_result_file,
    add_run,
    add_sample,
    add_variant,
)

EXPECTED_TEXT = (b'1\r\n00:00:01,000 --> 00:00:02,000\r\nHello world\r\n\r\n'
                 b'2\r\n00:00:03,000 --> 00:00:04,000\r\nBye\r\n')
ACTUAL_TEXT = EXPECTED_TEXT.replace(b'Hello world', b'Hello, world')
OTHER_RUN_TEXT = b'1\r\n00:00:01,000 --> 00:00:02,000\r\nSomething else entirely\r\n'
SAME_TEXT = 'Grüße, 字幕\n'.encode()
VARIANT_TEXT = b'1\r\n00:00:01,000 --> 00:00:02,000\r\nHello  world\r\n'
BINARY_EXPECTED = bytes(range(256)) * 4
BINARY_ACTUAL = bytes(reversed(range(256))) * 4
FOREIGN_TEXT = b'an output of another regression test\n'
NEVER_STORED = b'this actual output was never stored\n'
UNSTORED_REFERENCE = b'this reference was never stored\n'


def sha(data: bytes) -> str:
    """SHA-256 hex digest of ``data`` (the platform's name for a stored output)."""
    return hashlib.sha256(data).hexdigest()


def results_path(data: bytes, extension: str = '.srt') -> str:
    """Repository path of a stored output with this content."""
    return f'TestResults/{sha(data)}{extension}'


@dataclass
class World:
    """Ids of everything :func:`build_world` made, and the files its rows name (path → content)."""

    done: int  # completed; every kind of result
    rerun: int  # completed; another actual output for main/text, no row for main/foreign
    narrow: int  # customized to the 'variant' test only
    unfinished: int  # in preparation, no result yet
    first: Sample
    second: Sample
    tests: dict[str, RegressionTest]
    outputs: dict[str, int]
    files: dict[str, bytes] = field(default_factory=dict)

    def params(self, test: str, output: str, **extra: Any) -> dict[str, Any]:
        """Query parameters naming the regression test and output by key."""
        return {'regression_id': self.tests[test].id, 'output_id': self.outputs[output], **extra}


def build_world() -> World:
    """The samples, regression tests, outputs and runs described in the module docstring (committed).

    * ``main`` (sample ``first``): outputs ``text`` (differs in ``done``, differs otherwise in ``rerun``), ``same``
      (matched: ``got`` NULL), ``binary`` (differs, not UTF-8), ``ignored`` (ignored, no row anywhere). In ``done``
      it also has a row for ``foreign``, an output of the ``other`` test (matched).
    * ``missing`` (sample ``first``): ``lost`` is required and the test produced no file: missing output.
    * ``variant`` (sample ``second``): ``accepted`` differs from its reference but equals an accepted variant.
    * ``gone`` (sample ``second``): ``vanished`` differs and its actual file was never stored; ``unreferenced``
      differs and its reference file was never stored.
    * ``other`` (sample ``second``): owns ``foreign``; never run.
    """
    category = add_category('General')
    first, second = add_sample(original_name='first'), add_sample(original_name='second')
    references = {'text': EXPECTED_TEXT, 'same': SAME_TEXT, 'binary': BINARY_EXPECTED, 'ignored': EXPECTED_TEXT,
                  'lost': EXPECTED_TEXT, 'accepted': EXPECTED_TEXT, 'vanished': EXPECTED_TEXT,
                  'unreferenced': UNSTORED_REFERENCE, 'foreign': FOREIGN_TEXT}
    layout = {'main': (first, ('text', 'same', 'binary', 'ignored')), 'missing': (first, ('lost',)),
              'variant': (second, ('accepted',)), 'gone': (second, ('vanished', 'unreferenced')),
              'other': (second, ('foreign',))}
    tests, outputs = {}, {}
    for key, (sample, names) in layout.items():
        declared = [(sha(references[name]), name == 'ignored') for name in names]
        tests[key], stored = add_regression_test(category, outputs=declared, sample=sample)
        outputs.update({name: output for name, output in zip(names, stored)})
    add_variant(outputs['accepted'], sha(VARIANT_TEXT))
    done, rerun = add_run(progress=DONE), add_run(progress=DONE)
    actuals = {'text': ACTUAL_TEXT, 'same': None, 'binary': BINARY_ACTUAL, 'foreign': None,
               'accepted': VARIANT_TEXT, 'vanished': NEVER_STORED, 'unreferenced': ACTUAL_TEXT}
    owners = {'text': 'main', 'same': 'main', 'binary': 'main', 'foreign': 'main', 'accepted': 'variant',
              'vanished': 'gone', 'unreferenced': 'gone'}
    for key in ('main', 'missing', 'variant', 'gone'):
        add_result(done, tests[key])
    for name, data in actuals.items():
        add_result_file(done, tests[owners[name]], outputs[name], got=sha(data) if data is not None else None)
    add_result(rerun, tests['main'])
    add_result_file(rerun, tests['main'], outputs['text'], got=sha(OTHER_RUN_TEXT))
    narrow = add_run(progress=DONE)
    add_customized(narrow, tests['variant'].id)
    unfinished = add_run(progress=((TestStatus.preparation, 'Loaded'),))
    db.session.commit()
    stored_files = [data for name, data in references.items() if name != 'unreferenced']
    stored_files += [ACTUAL_TEXT, BINARY_ACTUAL, VARIANT_TEXT, OTHER_RUN_TEXT]
    return World(done.id, rerun.id, narrow.id, unfinished.id, first, second, tests,
                 {name: output.id for name, output in outputs.items()},
                 {results_path(data): data for data in stored_files})


def repository(app: Flask) -> Path:
    """The app's local sample repository."""
    return Path(app.config['SAMPLE_REPOSITORY'])


def store_files(app: Flask, files: dict[str, bytes], where: str = 'local', emulator: Any = None) -> None:
    """Store ``files`` (path → content) in ``where``: ``local``, ``gcs`` (the emulator), ``both`` or ``neither``."""
    for path, data in files.items():
        if where in ('local', 'both'):
            target = repository(app) / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if where in ('gcs', 'both'):
            emulator.put(path, data)
