"""Infrastructure errors of a run (``/runs/{id}/infrastructure-errors``), read off its progress rows.

The platform writes unstructured text into ``test_progress.message`` (SCHEMA.md §5.1, §7.3, §8). A row counts as
an infrastructure error when

* it is ``canceled`` and :func:`mod_api.verdicts.stop_kind` calls it an error (a cancellation by a user, an admin,
  the API, a closed PR or "no code changes" is not an infrastructure failure), or
* it has another status but its message looks like a failure (:data:`FAILURE_HINT`); the run carried on past it,
  so its severity is at most ``warning``.

Each is typed by :data:`RULES`, ordered regular expressions searched in the message (first match wins); text no
rule knows is typed ``worker`` (:data:`UNKNOWN`). ``docs/errors.md`` lists the table with the reason for each rule.
The sample repository and install folder paths are masked in everything returned; the message's lines come back as
``stack`` only on request.
"""
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mod_api.error_items import MAX_MESSAGE, Severity
from mod_api.legacy import TestStatus
from mod_api.timeutil import isoformat_z
from mod_api.verdicts import ProgressRow, RunStatus, stop_kind

INFRA_TYPES = ('queue', 'vm_provisioning', 'checkout', 'merge', 'build', 'worker', 'web_server', 'storage')
MAX_STACK_LINES, MAX_STACK_LINE = 50, 2000
EMPTY_MESSAGE = 'The platform recorded no message'
TRACEBACK_HEADER = 'Traceback (most recent call last)'
MASKS = (('SAMPLE_REPOSITORY', '<SAMPLE_REPOSITORY>'), ('INSTALL_FOLDER', '<INSTALL_FOLDER>'))


@dataclass(frozen=True)
class Rule:
    """One line of the classification table: a named pattern, and the type and severity of what it matches."""

    name: str
    pattern: re.Pattern[str] | None
    type: str
    severity: Severity

    def matches(self, message: str) -> bool:
        """True when the pattern occurs anywhere in ``message``."""
        return self.pattern is not None and self.pattern.search(message) is not None


def _rule(name: str, pattern: str, kind: str, severity: Severity = Severity.ERROR) -> Rule:
    return Rule(name, re.compile(pattern, re.IGNORECASE), kind, severity)


RULES: tuple[Rule, ...] = (
    _rule('time_limit', r'time limit exceeded', 'worker'),
    _rule('build_failed', r'github action\(?s?\)? failed|\bbuild (has )?failed|\bfailed to build', 'build'),
    _rule('artifact_pending', r'artifact not yet available', 'build', Severity.WARNING),
    _rule('artifact_missing_on_vm', r'\A\s*artifact\s*\Z', 'storage'),
    _rule('gcp_capacity', r'ZONE_RESOURCE_POOL_EXHAUSTED|QUOTA_EXCEEDED|\bquota\b', 'vm_provisioning',
          Severity.CRITICAL),
    _rule('gcp_vm', r'\b(gcp|gce|compute engine|vm|virtual machine|instance|zone|machine.?type|image family|'
                    r'startup.?script)\b', 'vm_provisioning'),
    _rule('artifact', r'artifact|\bworkflow|github actions?\b', 'build'),
    _rule('invalid_pr', r'invalid PR number', 'queue'),
    _rule('pr_closed', r'\b(PR|pull request)\b.*\bclosed\b', 'queue', Severity.INFO),
    _rule('queue', r'\bqueue', 'queue'),
    _rule('duplicate_report', r'duplicate entr', 'worker'),
    _rule('merge', r'\bmerge|conflict', 'merge'),
    _rule('checkout', r'\bcheck.?out\b|\bclon(e|ing)\b|\bgit\b|\bunknown revision\b', 'checkout'),
    _rule('web_server', r'\bHTTP(\s+(error|status))?\s*:?\s*\d{3}\b|internal server error|bad gateway|'
                        r'service unavailable|gateway time-?out|progress.?report|connection (refused|reset|aborted)',
          'web_server'),
    _rule('storage', r'\b(storage|bucket|gcs|gcsfuse|rclone|disk|mount(ed|ing)?)\b|no space left|no such file|'
                     r'permission denied|read-only file system|i/o error', 'storage'),
)
UNKNOWN = Rule('unknown', None, 'worker', Severity.ERROR)
FAILURE_HINT = re.compile(
    r'\b(errors?|exception|traceback|fail(s|ed|ure)?|fatal|crash(ed)?|abort(ed)?|killed|timed? ?out|time limit|'
    r'exceeded|exhausted|unable|could not|cannot|can\'t|not found|denied|refused)\b', re.IGNORECASE)


def classify(message: str) -> Rule:
    """The first rule of :data:`RULES` whose pattern occurs in ``message``, else :data:`UNKNOWN` (type worker)."""
    return next((rule for rule in RULES if rule.matches(message)), UNKNOWN)


def is_infrastructure_error(row: ProgressRow) -> bool:
    """True for a ``canceled`` row the verdicts call an error, and for any other row whose message looks failed."""
    if row.status is TestStatus.canceled:
        return stop_kind(row) is RunStatus.ERROR
    return FAILURE_HINT.search(row.message) is not None


# --- masking -------------------------------------------------------------------------------------------------------

def masks(config: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """(path, placeholder) pairs for the configured folders, as given (when absolute) and resolved, longest first."""
    pairs = set()
    for key, placeholder in MASKS:
        configured = str(config.get(key) or '')
        for path in {configured, os.path.realpath(configured)} if configured else ():
            path = path.rstrip('/\\')
            if path and os.path.isabs(path):
                pairs.add((path, placeholder))
    return tuple(sorted(pairs, key=lambda pair: (-len(pair[0]), pair)))


def mask(text: str, pairs: Sequence[tuple[str, str]]) -> str:
    """``text`` with every masked path replaced where it stands alone (not inside a longer file name or path)."""
    for path, placeholder in pairs:
        text = re.sub(r'(?<![\w.-])' + re.escape(path) + r'(?![\w-]|\.[\w-])', placeholder, text)
    return text


# --- documents -----------------------------------------------------------------------------------------------------

def infrastructure_errors(run_id: int, progress: Sequence[ProgressRow], include_stack: bool,
                          pairs: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """The run's infrastructure errors as ErrorItems, by progress row id (``stack`` only with ``include_stack``)."""
    items = []
    stage = 'queued'
    for row in progress:
        if is_infrastructure_error(row):
            items.append(_document(run_id, row, stage, include_stack, pairs))
        if row.status is not TestStatus.canceled:
            stage = row.status.value
    return items


def _document(run_id: int, row: ProgressRow, stage: str, include_stack: bool,
              pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The ErrorItem of one progress row; ``stage``: the last non-canceled status before it (``queued``: none)."""
    text = mask(row.message, pairs)
    rule = classify(text)
    severity = rule.severity
    if row.status is not TestStatus.canceled and severity.rank > Severity.WARNING.rank:
        severity = Severity.WARNING
    lines = [line for line in text.splitlines() if line.strip()]
    document: dict[str, Any] = {
        'error_id': f'infra_{run_id}_{row.id}',
        'run_id': run_id,
        'sample_id': None,
        'regression_id': None,
        'type': rule.type,
        'severity': severity.value,
        'message': summary_line(lines)[:MAX_MESSAGE],
        'location': {'progress_id': row.id, 'status': row.status.value, 'stage': stage, 'rule': rule.name},
        'occurred_at': isoformat_z(row.timestamp),
    }
    if include_stack:
        document['stack'] = stack(lines)
    return document


def summary_line(lines: Sequence[str]) -> str:
    """The line that says what happened: the first, or the last (the exception) of a Python traceback."""
    if not lines:
        return EMPTY_MESSAGE
    chosen = lines[-1] if lines[0].strip().startswith(TRACEBACK_HEADER) else lines[0]
    return chosen.strip()


def stack(lines: Iterable[str]) -> list[str]:
    """The ``stack`` of a message: its lines when it has several (a one-line message holds no stack: empty).

    Blank lines are dropped; the last :data:`MAX_STACK_LINES` are kept (a traceback ends with what failed), each
    cut to :data:`MAX_STACK_LINE` characters.
    """
    kept = list(lines)
    if len(kept) < 2:
        return []
    return [line.rstrip()[:MAX_STACK_LINE] for line in kept[-MAX_STACK_LINES:]]
