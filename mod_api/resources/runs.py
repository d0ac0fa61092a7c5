"""`/runs` reads: list, detail, summary, progress and configuration of CI runs."""
from flask import Blueprint

blueprint = Blueprint('runs', __name__)
