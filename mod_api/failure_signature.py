"""``failure_signature`` of a sample history entry: a stable name of how a regression test failed in a run.

Built only from what the verdict (:mod:`mod_api.verdicts`) failed the test on, never from run ids, times or
commits, so the same failure gives the same string in every run and a different failure a different one:

* ``fail`` because the exit code differs from the result's ``expected_rc`` snapshot (the verdict's first rule, which
  decides whatever the files say): ``exit_code:<exit code>:expected:<expected rc>`` (``none`` for NULL). The output
  files are not part of it: a crash leaves partial outputs that differ from run to run.
* ``fail`` because outputs differ from every accepted baseline: ``diff:<output id>:<got>`` for each such output by
  output id (then ``got``), joined with ``;``; ``got`` is the actual output's hash as the platform stored it.
* ``missing_output`` (nothing produced, something required): ``missing_output:<required output ids, comma-separated>``.
* ``pass``, ``skipped`` and unfinished statuses: null.

A signature longer than the contract's 255 characters becomes ``<kind>:sha256:<SHA-256 hex of the full signature>``
(still equal for equal failures, different for different ones).
"""
import hashlib

from mod_api.verdicts import OutputStatus, SampleFacts, SampleStatus, SampleVerdict

MAX_LENGTH = 255


def failure_signature(facts: SampleFacts, verdict: SampleVerdict) -> str | None:
    """The signature of a judged regression test of a run (the facts and verdict of the same test)."""
    if verdict.status is SampleStatus.MISSING_OUTPUT:
        missing = [item.output_id for item in verdict.outputs if item.status is OutputStatus.MISSING_OUTPUT]
        return _bounded('missing_output', ','.join(map(str, missing)))
    if verdict.status is not SampleStatus.FAIL:
        return None
    result = facts.result
    if result is not None and not result.exit_code_matched:
        return _bounded('exit_code', f'{_code(result.exit_code)}:expected:{_code(result.expected_rc)}')
    differing = sorted((file.output.id, file.got or '') for file in facts.files if not file.matched)
    return _bounded('diff', ';'.join(f'{output_id}:{got}' for output_id, got in differing))


def _bounded(kind: str, detail: str) -> str:
    """``<kind>:<detail>``, or its hashed form when longer than :data:`MAX_LENGTH`."""
    signature = f'{kind}:{detail}'
    if len(signature) <= MAX_LENGTH:
        return signature
    return f'{kind}:sha256:{hashlib.sha256(signature.encode("utf-8")).hexdigest()}'


def _code(value: int | None) -> str:
    return 'none' if value is None else str(value)
