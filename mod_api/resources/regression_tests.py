"""`/regression-tests`: regression test definitions."""
from flask import Blueprint

blueprint = Blueprint('regression_tests', __name__)
