"""`/branches`: the (repository, branch) pairs the platform has run."""
from flask import Blueprint

blueprint = Blueprint('branches', __name__)
