"""Baseline approvals: asking for a run's actual output to become an accepted baseline, and reviewing the request.

The platform's own mechanism for several acceptable baselines is the ``regression_test_output_files`` row (a
"variant": SCHEMA.md §2.4): a ``got`` equal to one of an output's ``file_hashes`` counts as a match (§5.4, §5.5).
An approved request adds exactly such a row; the reference file (``correct``) and its stored file are never
changed or deleted, and the actual file is already stored under its hash (``TestResults/<got><ext>``).

Requesting (:func:`request_approval`), in this order:

1. The caller needs an e-mail address on their platform account (the contract's ``requested_by`` is an e-mail):
   else 403 ``email_required``.
2. The ids must name one thing: the run (404 ``run``), the media sample (404 ``sample``), a regression test of that
   sample in the run's scope (404 ``regression_test``), and an output of that regression test in the run — one of
   its own outputs or an output its result files in the run compare (404 ``output``). Ids of another run, sample
   or regression test never reach anything.
3. The reason must be a justification (:func:`reason_problem`), else 400 ``validation_error`` on ``reason``.
4. The output's status in that run (:func:`mod_api.verdicts.judge`, the only verdict rules) must be
   ``diff_mismatch``, else 409 ``nothing_to_approve`` with ``output_status`` (null when the run has no item for it)
   and ``sample_status``; its actual output must be named by a SHA-256 hash (else 422).
5. One pending approval per (output, actual hash): the variant it would add. A request for an output and hash
   that already have a pending approval — from any run, sample, requester or options — returns that approval
   unchanged. The database enforces it (a unique key on ``pending_output_id`` + ``actual_hash``), so concurrent
   requests also yield one row. After a review, a new request creates a new approval.

Reviewing (:func:`review`): the requester may not review their own approval (403 ``self_review``); a decided
approval is not reviewed again (409 ``already_reviewed``). The decision is claimed with one conditional UPDATE
(``status = 'pending_review'``), so of parallel reviews exactly one wins. Approving adds the variant
(``file_hashes`` = the actual hash) to the output, and with ``apply_to_variants`` also to the "same output" of the
sample's other regression tests (the contract's "command variants"): an output row of another regression test of
the same sample with the same ``correct_extension`` and ``expected_filename`` (NULL counts as '': the file
CCExtractor writes has the same name), whose result file in that run has ``got`` exactly equal to the approved
hash. They are found when the review happens. An output that already has the variant gets no second row: the
target outputs are locked (``SELECT ... FOR UPDATE`` in id order on MariaDB; SQLite's write lock, taken by the
claiming UPDATE) before their variants are read. Rejecting only records the decision.

Nothing here commits: ``resources/approvals.py`` adds the audit row and commits (one transaction per write).
"""
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from mod_api.access import Principal
from mod_api.db import db
from mod_api.errors import ApiError, not_found, validation_error
from mod_api.legacy import RegressionTest, RegressionTestOutput, RegressionTestOutputFiles, TestResultFile
from mod_api.models import BaselineApproval
from mod_api.result_lookup import judged_regression_test
from mod_api.sample_view import Judged
from mod_api.timeutil import utcnow
from mod_api.validation import MAX_DB_INTEGER
from mod_api.verdicts import OutputStatus

PENDING, APPROVED, REJECTED = 'pending_review', 'approved', 'rejected'
STATUSES = (PENDING, APPROVED, REJECTED)
DECISIONS = {'approve': APPROVED, 'reject': REJECTED}
ID_PREFIX = 'apr_'
_PUBLIC_ID = re.compile(ID_PREFIX + r'([1-9][0-9]{0,9})')
_EMAIL = re.compile(r'[^@\s]+@[^@\s]+')

# --- the reason rule -----------------------------------------------------------------------------------------------
REASON_MIN_LENGTH = 10
REASON_MIN_WORDS = 2
_PLACEHOLDER = re.compile(r'\b(?:placeholder|todo|tbd|fixme|n/a|lorem\s+ipsum|asdf\w*|qwerty\w*|xxx+)\b',
                          re.IGNORECASE)
_WORD = re.compile(r'[^\W\d_]{3,}')  # three or more letters (any script)
_REPEATED = re.compile(r'(.{1,4}?)\1+')  # "aaaa", "haha", "asdfasdf"
FILLER_WORDS = frozenset({
    'test', 'tests', 'testing', 'none', 'null', 'nil', 'foo', 'bar', 'baz', 'qux', 'dummy', 'temp', 'tmp', 'blah',
    'whatever', 'nothing', 'something', 'reason', 'lorem', 'ipsum', 'dolor', 'amet', 'the', 'and', 'this', 'that',
    'yes', 'okay',
})
REASON_RULE = (
    'reason must justify the change: at least 10 characters once surrounding whitespace is trimmed, no placeholder '
    '(placeholder, todo, tbd, fixme, n/a, lorem ipsum, asdf..., qwerty..., xxx), and at least two different '
    'meaningful words (three or more letters, not a filler such as test/none/foo/dummy, not a repeated short unit '
    'such as aaaa or haha). Repeated characters, digits, punctuation or whitespace alone are refused.')


def reason_problem(reason: str) -> str | None:
    """Why ``reason`` is not an acceptable justification (:data:`REASON_RULE`), or None when it is."""
    text = reason.strip()
    if len(text) < REASON_MIN_LENGTH:
        return f'Must be at least {REASON_MIN_LENGTH} characters, not counting surrounding whitespace.'
    if _PLACEHOLDER.search(text):
        return 'Must be a real justification, not a placeholder.'
    words = {word.casefold() for word in _WORD.findall(text)}
    meaningful = {word for word in words if word not in FILLER_WORDS and not _REPEATED.fullmatch(word)}
    if len(meaningful) < REASON_MIN_WORDS:
        return ('Must explain the change in words: at least two different words of three or more letters that are '
                'not placeholders or repeated characters.')
    return None


# --- ids -----------------------------------------------------------------------------------------------------------

def public_id(row_id: int) -> str:
    """The stable ``approval_id`` of an approval row: ``apr_<row id>``."""
    return f'{ID_PREFIX}{row_id}'


def find(approval_id: str) -> BaselineApproval:
    """The approval named by ``approval_id`` (``apr_<id>``, canonical form only), else 404 ``baseline_approval``."""
    match = _PUBLIC_ID.fullmatch(approval_id)
    row_id = int(match.group(1)) if match else 0
    approval = db.session.get(BaselineApproval, row_id) if 1 <= row_id <= MAX_DB_INTEGER else None
    if approval is None:
        raise not_found('baseline_approval', approval_id)
    return approval


# --- requesting ----------------------------------------------------------------------------------------------------

def request_approval(principal: Principal, run_id: int, sample_id: int,
                     body: dict[str, Any]) -> tuple[BaselineApproval, bool]:
    """The pending approval of a validated BaselineApprovalRequest, and whether this request created it.

    Checks and dedup as the module describes. The new row is flushed; on a concurrent duplicate (unique key) the
    transaction is rolled back and the winner's row returned.
    """
    if principal.email is None or not _EMAIL.fullmatch(principal.email):
        raise ApiError(403, 'email_required', 'Baseline approvals name their requester by e-mail: add an e-mail '
                                              'address to your platform account first.',
                       {'rule': 'requester_email_required'})
    regression_id, output_id = body['regression_id'], body['output_id']
    entry = judged_regression_test(run_id, sample_id, regression_id)
    if output_id not in {output.id for output in entry.facts.outputs} | {file.output.id for file in entry.facts.files}:
        raise ApiError(404, 'not_found', f'Output {output_id} is not an output of regression test {regression_id} '
                                         f'in run {run_id}.', {'resource': 'output', 'id': output_id})
    problem = reason_problem(body['reason'])
    if problem is not None:
        raise validation_error({'reason': problem})
    actual_hash = _approvable_hash(entry, run_id, output_id)
    existing = _pending(output_id, actual_hash)
    if existing is not None:
        return existing, False
    approval = BaselineApproval(
        status=PENDING, created_at=utcnow().replace(microsecond=0), run_id=run_id, sample_id=sample_id,
        regression_id=regression_id, output_id=output_id, actual_hash=actual_hash,
        apply_to_variants=body['apply_to_variants'], reason=body['reason'].strip(),
        requested_by_user_id=principal.user_id, requested_by=principal.email, pending_output_id=output_id)
    db.session.add(approval)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        existing = _pending(output_id, actual_hash)
        if existing is None:  # the winner was reviewed in between: let the client ask again
            raise ApiError(409, 'conflict', 'A concurrent request for this output was decided meanwhile; retry.',
                           {'output_id': output_id}) from None
        return existing, False
    return approval, True


def _approvable_hash(entry: Judged, run_id: int, output_id: int) -> str:
    """The actual hash of a ``diff_mismatch`` output; 409 ``nothing_to_approve`` for other statuses, 422 if unnamed."""
    item = next((item for item in entry.verdict.outputs if item.output_id == output_id), None)
    if item is None or item.status is not OutputStatus.DIFF_MISMATCH:
        status = item.status.value if item is not None else None
        raise ApiError(409, 'nothing_to_approve',
                       f'Output {output_id} of regression test {entry.regression_id} in run {run_id} is '
                       f'{status or "not reported"}: only a diff_mismatch output can be approved.',
                       {'output_id': output_id, 'output_status': status,
                        'sample_status': entry.verdict.status.value})
    if item.actual_hash is None:
        raise ApiError(422, 'unprocessable', f'The actual output of output {output_id} is not named by a SHA-256 '
                                             f'hash: there is no stored file to accept.', {'output_id': output_id})
    return item.actual_hash


def _pending(output_id: int, actual_hash: str) -> BaselineApproval | None:
    """The pending approval of this output and actual hash, if any."""
    return db.session.scalars(select(BaselineApproval).where(
        BaselineApproval.pending_output_id == output_id, BaselineApproval.actual_hash == actual_hash)).first()


# --- reviewing -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AcceptedVariant:
    """An output that accepts the approved hash after the review: its variant row, and whether the review added it."""

    regression_id: int | None
    output_id: int
    variant_id: int
    added: bool


def review(principal: Principal, approval_id: str, decision: str,
           comment: str | None) -> tuple[BaselineApproval, tuple[AcceptedVariant, ...]]:
    """Record ``decision`` (approve/reject) on a pending approval; approving adds the variant rows (flushed).

    404 for an unknown id, 403 ``self_review`` for the requester, 409 ``already_reviewed`` once decided (also for
    the losers of parallel reviews), 409 ``output_gone`` when the output row was deleted since the request.
    """
    approval = find(approval_id)
    if approval.requested_by_user_id == principal.user_id:
        raise ApiError(403, 'self_review', 'The requester of a baseline approval may not review it: another admin '
                                           'must.', {'rule': 'reviewer_is_not_requester', 'approval_id': approval_id})
    claimed = db.session.execute(
        update(BaselineApproval)
        .where(BaselineApproval.id == approval.id, BaselineApproval.status == PENDING)
        .values(status=DECISIONS[decision], pending_output_id=None, reviewed_at=utcnow().replace(microsecond=0),
                reviewed_by_user_id=principal.user_id, reviewed_by=principal.email, review_comment=comment)
        .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        db.session.rollback()
        current = find(approval_id)
        raise ApiError(409, 'already_reviewed', f'Baseline approval {approval_id} was already {current.status}.',
                       {'approval_id': approval_id, 'status': current.status})
    db.session.refresh(approval)
    accepted = _accept(approval) if approval.status == APPROVED else ()
    return approval, accepted


def _accept(approval: BaselineApproval) -> tuple[AcceptedVariant, ...]:
    """Make every target output accept the approved hash, adding only the variant rows that are missing."""
    main = db.session.execute(
        select(RegressionTestOutput.expected_filename, RegressionTestOutput.correct_extension)
        .where(RegressionTestOutput.id == approval.output_id)).first()
    targets = [approval.output_id]
    if main is not None and approval.apply_to_variants:
        targets += _same_outputs_of_other_tests(approval, main.expected_filename, main.correct_extension)
    owners = dict(db.session.execute(
        select(RegressionTestOutput.id, RegressionTestOutput.regression_id)
        .where(RegressionTestOutput.id.in_(targets)).order_by(RegressionTestOutput.id).with_for_update()).tuples().all())
    if approval.output_id not in owners:
        raise ApiError(409, 'output_gone', f'Output {approval.output_id} no longer exists; reject the approval.',
                       {'output_id': approval.output_id})
    variants = RegressionTestOutputFiles
    existing = {output_id: variant_id for variant_id, output_id, file_hash in db.session.execute(
        select(variants.id, variants.regression_test_output_id, variants.file_hashes)
        .where(variants.regression_test_output_id.in_(list(owners))).with_for_update(read=True)).tuples()
        if file_hash == approval.actual_hash}
    added = {output_id: variants(approval.actual_hash, output_id) for output_id in owners if output_id not in existing}
    db.session.add_all(added.values())
    db.session.flush()
    return tuple(AcceptedVariant(owners[output_id], output_id,
                                 added[output_id].id if output_id in added else existing[output_id], output_id in added)
                 for output_id in sorted(owners))


def _same_outputs_of_other_tests(approval: BaselineApproval, expected_filename: str | None,
                                 extension: str) -> list[int]:
    """Outputs of the sample's other regression tests named like the approved one whose ``got`` in the run is its hash.

    Strings are compared in Python, exactly (MariaDB's collations would ignore case).
    """
    rows = db.session.execute(
        select(RegressionTestOutput.id, TestResultFile.got, RegressionTestOutput.expected_filename,
               RegressionTestOutput.correct_extension)
        .join(RegressionTestOutput, RegressionTestOutput.id == TestResultFile.regression_test_output_id)
        .join(RegressionTest, RegressionTest.id == TestResultFile.regression_test_id)
        .where(TestResultFile.test_id == approval.run_id, RegressionTest.sample_id == approval.sample_id,
               RegressionTest.id != approval.regression_id,
               RegressionTestOutput.regression_id == TestResultFile.regression_test_id)).tuples()
    return [output_id for output_id, got, filename, other_extension in rows
            if got == approval.actual_hash and (filename or '') == (expected_filename or '')
            and other_extension == extension]
