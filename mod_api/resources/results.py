"""`/runs/{run_id}/samples/{sample_id}/expected|actual|diff`: output files and diffs of a run's results."""
from flask import Blueprint

blueprint = Blueprint('results', __name__)
