"""``/branches``: the (repository, branch) pairs the platform has run, grouped, filtered and paged in SQL.

* ``repository`` is the run's fork as ``owner/repo``, by the rule of ``run_view.repository_name`` written in SQL
  (surrounding spaces and a trailing ``.git`` removed, then ``https://github.com/`` / ``http://github.com/``, then
  surrounding slashes), so a branch's repository is the ``repository`` of its runs. Pairs whose repository does not
  fit the contract (``owner/repo``, at most 100 characters; runs without a fork) or whose branch name is longer
  than 100 characters are not listed.
* ``name`` is the run's stored branch: ``master`` for pushes and customized runs, and the platform's literal
  ``pull_request`` for every PR run, so the PR runs of a repository form one branch named ``pull_request`` (the
  value ``GET /runs?branch=`` matches; the PR number is a property of each run, not a branch).
* Pairs are told apart exactly (case-sensitive, byte for byte, on every backend) and listed by repository, then
  name (byte order).
* ``head_sha``: the commit of the pair's newest run (highest id); null when that commit is not 40 hex digits (the
  platform accepts 7).
* ``active``: a run of the pair was created within ``API_BRANCH_ACTIVE_DAYS`` days (default 30). A run's creation
  time is ``run_view``'s: the API's record of it, else its earliest progress row, else its VM row (naive local
  time, shifted by run_view's UTC offset); a run with none of them (queued, never listed yet) counts as created
  now.
* Cost: one SELECT per page (it carries the total as ``COUNT(*) OVER ()``), two when the page is past the end. It
  groups every run with a fork: about 0.5 s for 20,000 runs on 2 cores.
* Filters: ``repository`` matches case-insensitively (GitHub owner and repository names are); ``name`` matches a
  branch name exactly (case-sensitive); ``active`` keeps pairs with that flag.
"""
import re
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, current_app, jsonify
from marshmallow import fields, validate
from sqlalchemy import CTE, ColumnElement, Select, case, func, select
from sqlalchemy.orm import aliased

from mod_api.db import db
from mod_api.legacy import Fork, Test
from mod_api.models import RunRecord
from mod_api.operations import operation
from mod_api.queue import progress_bounds, vm_started
from mod_api.resources.system import PageQuery, PageSchema, page_body, true_or_false
from mod_api.run_view import local_utc_offset
from mod_api.schemas import ResponseSchema
from mod_api.sql_functions import CharLength, Exact, ShortKey, repository_expression
from mod_api.timeutil import utcnow
from mod_api.validation import FullMatch

blueprint = Blueprint('branches', __name__)

REPOSITORY_PATTERN = r'^[a-zA-Z0-9_.-]+/[a-zA-Z0-9_.-]+$'
SHA1 = re.compile(r'[0-9a-fA-F]{40}')
MAX_LENGTH = 100


class BranchQuery(PageQuery):
    """Filters of ``GET /branches``."""

    repository = fields.String(validate=[validate.Length(max=MAX_LENGTH), FullMatch(REPOSITORY_PATTERN)],
                               metadata={'description': 'GitHub repository in owner/repo format'})
    name = fields.String(validate=validate.Length(max=MAX_LENGTH))
    active = true_or_false()


class BranchSchema(ResponseSchema):
    """The contract's Branch."""

    repository = fields.String(required=True, validate=[validate.Length(max=MAX_LENGTH),
                                                        validate.Regexp(REPOSITORY_PATTERN)])
    name = fields.String(required=True, validate=validate.Length(max=MAX_LENGTH))
    head_sha = fields.String(required=True, allow_none=True, validate=validate.Regexp(r'^[a-fA-F0-9]{40}$'))
    active = fields.Boolean(required=True)


class BranchPageSchema(PageSchema):
    """A page of branches."""

    data = fields.List(fields.Nested(BranchSchema), required=True)


def _repositories(query: dict[str, Any]) -> CTE:
    """``id`` and ``repository`` of each fork whose repository fits the contract (and the filter), computed once.

    DISTINCT keeps the table from being merged into the queries using it (the expression is not recomputed per run).
    """
    repository = repository_expression(Fork.github)
    statement = (select(Fork.id, repository.label('repository')).distinct()
                 .where(repository.regexp_match(REPOSITORY_PATTERN), func.instr(repository, '\n') == 0,
                        CharLength(repository) <= MAX_LENGTH))
    if query.get('repository') is not None:
        statement = statement.where(func.lower(repository) == query['repository'].lower())
    return statement.cte('repositories')


def _recent(created: ColumnElement[datetime], vm_at: ColumnElement[datetime], days: int) -> ColumnElement[int]:
    """1 when a run was created within ``days`` days, else 0; ``created`` is the API record else the first progress.

    ``vm_at`` (the VM row, naive local time: trap 8) is compared with the cutoff in local time, by run_view's
    offset; a run with none of the three is queued and unseen, created now.
    """
    cutoff = utcnow() - timedelta(days=days)
    vm_cutoff = cutoff + local_utc_offset()
    return case((created.isnot(None), case((created >= cutoff, 1), else_=0)),
                (vm_at.isnot(None), case((vm_at >= vm_cutoff, 1), else_=0)),
                else_=1)


def _grouped(query: dict[str, Any], repositories: CTE, days: int) -> Select:
    """One row per listed pair matching the filters: ``head_id`` (its newest run) and ``active`` (0/1)."""
    progress, vms = progress_bounds(), vm_started()
    recent = _recent(func.coalesce(RunRecord.created_at, progress.c.first_at), vms.c.vm_at, days)
    statement = (select(func.max(Test.id).label('head_id'), func.max(recent).label('active'))
                 .select_from(Test).join(repositories, repositories.c.id == Test.fork_id)
                 .outerjoin(progress, progress.c.run_id == Test.id)
                 .outerjoin(vms, vms.c.run_id == Test.id)
                 .outerjoin(RunRecord, RunRecord.run_id == Test.id)
                 .where(CharLength(Test.branch) <= MAX_LENGTH)
                 .group_by(ShortKey(repositories.c.repository), ShortKey(Test.branch)))
    if query.get('name') is not None:
        statement = statement.where(Exact(Test.branch) == query['name'])
    if query.get('active') is not None:
        statement = statement.having(func.max(recent) == int(query['active']))
    return statement


def _document(repository: str, name: str, commit: str, active: int) -> dict[str, Any]:
    return {'repository': repository, 'name': name, 'head_sha': commit if SHA1.fullmatch(commit or '') else None,
            'active': bool(active)}


@blueprint.route('/branches', methods=['GET'])
@operation('List available branches', ('System',), scope='runs:read', query=BranchQuery,
           responses={200: ('Paginated branches', BranchPageSchema)},
           description='The (repository, branch) pairs the platform has run, by repository then name. PR runs are '
                       'stored on the branch pull_request: one such branch per repository. head_sha: commit of the '
                       'newest run of the pair. active: a run of the pair was created within the configured number '
                       'of days (API_BRANCH_ACTIVE_DAYS, default 30). repository matches case-insensitively, name '
                       'exactly.')
def branches(query: dict[str, Any]) -> Any:
    """A page of branches: one query (the page carries the total), plus a count when the page is past the end."""
    repositories = _repositories(query)
    groups = _grouped(query, repositories, current_app.config['API_BRANCH_ACTIVE_DAYS']).subquery('branches')
    head = aliased(Test)
    rows = db.session.execute(
        select(repositories.c.repository, head.branch, head.commit, groups.c.active, func.count().over())
        .select_from(groups)
        .join(head, head.id == groups.c.head_id).join(repositories, repositories.c.id == head.fork_id)
        .order_by(ShortKey(repositories.c.repository), ShortKey(head.branch), groups.c.head_id)
        .limit(query['limit']).offset(query['offset'])).all()
    if rows:
        total = rows[0][-1]
    else:
        total = db.session.scalar(select(func.count()).select_from(groups)) if query['offset'] else 0
    return jsonify(page_body([_document(*row[:-1]) for row in rows], total or 0, query))
