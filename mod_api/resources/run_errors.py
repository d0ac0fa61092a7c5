"""`/runs/{run_id}/errors`, `/error-summary`, `/infrastructure-errors`: what went wrong in a run."""
from flask import Blueprint

blueprint = Blueprint('run_errors', __name__)
