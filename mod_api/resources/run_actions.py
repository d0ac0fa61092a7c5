"""`/runs` writes: trigger a run, cancel a run, retry a run."""
from flask import Blueprint

blueprint = Blueprint('run_actions', __name__)
