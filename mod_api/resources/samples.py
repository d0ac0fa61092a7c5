"""`/samples`: media samples and their regression history."""
from flask import Blueprint

blueprint = Blueprint('samples', __name__)
