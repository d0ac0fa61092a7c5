"""Baseline approvals: request one for a run's output, list them, review them."""
from flask import Blueprint

blueprint = Blueprint('approvals', __name__)
