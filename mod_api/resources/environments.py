"""`/environments`: the CI environments (one per platform)."""
from flask import Blueprint

blueprint = Blueprint('environments', __name__)
