"""`/runs/{run_id}/samples`: the regression test results of a run."""
from flask import Blueprint

blueprint = Blueprint('run_samples', __name__)
