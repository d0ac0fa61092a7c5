"""``/environments``: the CI environments, one per platform (their ids are what ``POST /runs`` accepts)."""
from typing import Any

from flask import Blueprint, jsonify
from marshmallow import fields, validate

from mod_api.environments import Environment, list_environments
from mod_api.operations import operation
from mod_api.resources.system import PLATFORMS, PageQuery, PageSchema, page_body, true_or_false
from mod_api.schemas import ResponseSchema

blueprint = Blueprint('environments', __name__)


class EnvironmentQuery(PageQuery):
    """Filters of ``GET /environments``."""

    platform = fields.String(validate=validate.OneOf(PLATFORMS))
    active = true_or_false()


class EnvironmentSchema(ResponseSchema):
    """The contract's Environment."""

    environment_id = fields.String(required=True, validate=validate.Length(max=100))
    platform = fields.String(required=True, validate=validate.OneOf(PLATFORMS))
    active = fields.Boolean(required=True)
    runner_label = fields.String(required=True, allow_none=True, validate=validate.Length(max=100))
    average_duration_ms = fields.Integer(required=True, allow_none=True, validate=validate.Range(min=0))


class EnvironmentPageSchema(PageSchema):
    """A page of environments."""

    data = fields.List(fields.Nested(EnvironmentSchema), required=True)


ENVIRONMENTS_DESCRIPTION = (
    'One environment per platform (environment_id = platform), in platform order. active is false while the '
    'platform is in maintenance mode (its CI starts no run); runner_label is the VM image family configured for '
    'the platform; average_duration_ms is the platform\'s stored average run time, else the mean first-to-last '
    'progress time of its completed runs, else null.')


def _document(environment: Environment) -> dict[str, Any]:
    return {'environment_id': environment.environment_id, 'platform': environment.platform,
            'active': environment.active, 'runner_label': environment.runner_label,
            'average_duration_ms': environment.average_duration_ms}


@blueprint.route('/environments', methods=['GET'])
@operation('List available CI environments and platforms', ('System',), scope='runs:read', query=EnvironmentQuery,
           responses={200: ('Paginated CI environments', EnvironmentPageSchema)},
           description=ENVIRONMENTS_DESCRIPTION)
def environments(query: dict[str, Any]) -> Any:
    """The environments matching the filters (a handful: filtered and paged in memory)."""
    matching = [environment for environment in list_environments()
                if query.get('platform') in (None, environment.platform)
                and query.get('active') in (None, environment.active)]
    page = matching[query['offset']:query['offset'] + query['limit']]
    return jsonify(page_body([_document(environment) for environment in page], len(matching), query))
