"""`/runs/{run_id}/logs` and `/runs/{run_id}/samples/{sample_id}/logs`: run logs, line by line."""
from flask import Blueprint

blueprint = Blueprint('logs', __name__)
