"""`/runs/{run_id}/artifacts`: downloadable files of a run, and the signed download route."""
from flask import Blueprint

blueprint = Blueprint('artifacts', __name__)
