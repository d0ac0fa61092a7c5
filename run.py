"""The standalone app: configuration, the legacy data layer, and mod_api at /api/v1. Nothing else.

``python run.py`` serves it with Flask's development server; production serves ``run:create_app()`` with
gunicorn (see install/). The configuration is ``config.py`` at the root, read as the platform reads it: every
UPPER-CASE attribute; an environment variable with the same name overrides each key mod_api reads.
"""
import importlib
import logging
import os
import sys
from typing import Any

from flask import Flask
from sqlalchemy.engine import make_url

from database import create_session
from mod_api import init_app
from mod_api.db import create_api_tables
from mod_api.settings import ConfigError


def read_config(module_name: str = 'config') -> dict[str, Any]:
    """The UPPER-CASE attributes of the config module (``config.py`` at the root)."""
    module = importlib.import_module(module_name)
    return {name: getattr(module, name) for name in dir(module) if name.isupper()}


def create_app() -> Flask:
    """Build the standalone app; a configuration problem stops start-up with a one-line message."""
    logging.basicConfig(level=logging.INFO, format='[%(levelname)s] %(name)s: %(message)s')
    app = Flask(__name__)
    try:
        app.config.update(read_config())
        init_app(app)
    except ModuleNotFoundError as error:
        sys.exit(f'config.py is missing ({error}): copy config_sample.py to config.py')
    except ConfigError as error:
        sys.exit(f'configuration error: {error}')
    create_session(app.config['DATABASE_URI'])
    if make_url(app.config['DATABASE_URI']).get_backend_name() == 'sqlite':
        create_api_tables(app)
    return app


if __name__ == '__main__':
    create_app().run(host=os.environ.get('API_HOST', '127.0.0.1'), port=int(os.environ.get('API_PORT', '5000')))
