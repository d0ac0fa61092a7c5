"""Install mod_api into an existing sample-platform checkout: ``python install/install_into_platform.py PATH``.

Steps (each one does nothing when already done, so rerunning changes no file):

1. copy the ``mod_api`` package into the checkout, replacing an older copy;
2. append to its requirements.txt the runtime requirements of mod_api it does not list yet (mysqlclient is left
   out: the platform reaches MySQL through its own driver, ``mysql+pymysql://``);
3. register the blueprint in its run.py with a marked block (``init_mod_api(app)``), placed before a top-level
   ``if __name__ == '__main__':`` when there is one, else at the end;
4. add to its config.py the API's keys it lacks (from config_sample.py; a random API_SECRET_KEY, and
   API_TRUSTED_PROXY_HOPS = 1 because the platform runs behind nginx);
5. create the API's own tables in the platform database, in a child process that imports only the checkout's
   ``config`` and data layer, never its ``run`` module (which has import side effects).

Step 5 needs the platform's Python environment with mod_api's requirements installed: ``--python`` names that
interpreter (default: the one running this script); ``--skip-tables`` skips it and says how to do it later.
"""
import argparse
import ast
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

SOURCE = Path(__file__).resolve().parent.parent
CHECKOUT_MARKERS = ('run.py', 'database.py', 'mod_test/models.py', 'mod_ci')
SKIPPED_REQUIREMENTS = {'mysqlclient'}
RUN_BLOCK_START = "# >>> mod_api: JSON API under /api/v1 (added by mod_api's install_into_platform.py) >>>"
RUN_BLOCK = f"""{RUN_BLOCK_START}
from mod_api import init_app as init_mod_api  # noqa: E402

init_mod_api(app)
# <<< mod_api <<<
"""
CONFIG_HEADER = "# --- mod_api: the JSON API's settings (added by mod_api's install_into_platform.py) ---"
CONFIG_OVERRIDES = {
    'API_TRUSTED_PROXY_HOPS': ('# The platform runs behind nginx, which sets X-Forwarded-For: trust that one hop.',
                               '1'),
}
CREATE_TABLES = """
import os, sys
sys.path.insert(0, os.getcwd())
import config
from flask import Flask
from mod_api.db import create_api_tables, init_db
app = Flask('mod_api_install')
app.config['DATABASE_URI'] = os.environ.get('DATABASE_URI') or config.DATABASE_URI
init_db(app)
create_api_tables(app)
print('mod_api tables are in place.')
"""


TABLES_LATER = ('  create them once the requirements are installed: rerun this script with --python '
                '<the platform\'s python>, or run `flask --app run create-api-tables` in the checkout')


class NotACheckout(Exception):
    """The target folder is not a sample-platform checkout."""


def check_target(target: Path) -> None:
    """Refuse anything but a sample-platform checkout other than this one."""
    if not target.is_dir():
        raise NotACheckout(f'{target} is not a folder')
    missing = [marker for marker in CHECKOUT_MARKERS if not (target / marker).exists()]
    if missing:
        raise NotACheckout(f'{target} is not a sample-platform checkout (no {", ".join(missing)})')
    if target.resolve() == SOURCE:
        raise NotACheckout(f'{target} is this mod_api checkout itself, not a sample-platform checkout')


def copy_package(target: Path) -> str:
    """Copy mod_api into the checkout; an older copy is replaced, an identical one left alone."""
    source, destination = SOURCE / 'mod_api', target / 'mod_api'
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc')
    if destination.exists() and _tree(destination) == _tree(source):
        return 'mod_api: already up to date'
    replaced = destination.exists()
    if replaced:
        shutil.rmtree(destination)
    shutil.copytree(source, destination, ignore=ignore)
    return 'mod_api: replaced the older copy' if replaced else 'mod_api: copied'


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob('*'))
            if path.is_file() and '__pycache__' not in path.parts and path.suffix != '.pyc'}


def _requirement_name(line: str) -> Optional[str]:
    """The normalised project name of a requirements line, or None for comments, options and blanks."""
    line = line.split('#', 1)[0].strip()
    if not line or line.startswith('-'):
        return None
    match = re.match(r'[A-Za-z0-9][A-Za-z0-9._-]*', line)
    return re.sub(r'[-_.]+', '-', match.group(0)).lower() if match else None


def update_requirements(target: Path) -> str:
    """Append mod_api's runtime requirements that the platform's requirements.txt does not name yet."""
    path = target / 'requirements.txt'
    existing = path.read_text(encoding='utf-8') if path.exists() else ''
    present = {_requirement_name(line) for line in existing.splitlines()}
    wanted = [line.strip() for line in (SOURCE / 'requirements.txt').read_text(encoding='utf-8').splitlines()
              if _requirement_name(line) and _requirement_name(line) not in SKIPPED_REQUIREMENTS]
    missing = [line for line in wanted if _requirement_name(line) not in present]
    if not missing:
        return 'requirements.txt: nothing to add'
    text = existing if not existing or existing.endswith('\n') else existing + '\n'
    text += '# mod_api (added by install_into_platform.py)\n' + ''.join(f'{line}\n' for line in missing)
    path.write_text(text, encoding='utf-8')
    return f'requirements.txt: added {", ".join(missing)}'


def register_blueprint(target: Path) -> str:
    """Add the marked init_mod_api(app) block to run.py (before its ``__main__`` guard, if any)."""
    path = target / 'run.py'
    text = path.read_text(encoding='utf-8')
    if RUN_BLOCK_START in text:
        return 'run.py: mod_api already registered'
    guard = re.search(r'^if __name__ == [\'"]__main__[\'"]:', text, flags=re.MULTILINE)
    if guard:
        text = text[:guard.start()] + RUN_BLOCK + '\n\n' + text[guard.start():]
    else:
        text = (text if text.endswith('\n') else text + '\n') + '\n\n' + RUN_BLOCK
    path.write_text(text, encoding='utf-8')
    return 'run.py: mod_api registered (init_mod_api(app))'


def _api_settings() -> list[tuple[str, str, str]]:
    """(key, comment lines, value source) of every API_* key of config_sample.py, in order."""
    source = (SOURCE / 'config_sample.py').read_text(encoding='utf-8')
    lines = source.splitlines()
    settings = []
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id.startswith('API_')):
            continue
        comments: list[str] = []
        number = node.lineno - 2
        while number >= 0 and lines[number].startswith('#'):
            comments.insert(0, lines[number])
            number -= 1
        settings.append((node.targets[0].id, '\n'.join(comments), ast.get_source_segment(source, node.value) or "''"))
    return settings


def update_config(target: Path) -> str:
    """Append the API keys config.py does not define yet (top-level assignments), with their comments."""
    path = target / 'config.py'
    if not path.exists():
        return 'config.py: not found (create it as the platform documents, then rerun to add the API keys)'
    text = path.read_text(encoding='utf-8')
    defined = {target.id for node in ast.parse(text).body if isinstance(node, ast.Assign)
               for target in node.targets if isinstance(target, ast.Name)}
    blocks = []
    for key, comments, value in _api_settings():
        if key in defined:
            continue
        if key == 'API_SECRET_KEY':
            value = repr(secrets.token_hex(32))
        if key in CONFIG_OVERRIDES:
            comments, value = CONFIG_OVERRIDES[key][0], CONFIG_OVERRIDES[key][1]
        blocks.append(f'{comments}\n{key} = {value}' if comments else f'{key} = {value}')
    if not blocks:
        return 'config.py: API keys already present'
    text = (text if text.endswith('\n') else text + '\n') + f'\n{CONFIG_HEADER}\n' + '\n'.join(blocks) + '\n'
    path.write_text(text, encoding='utf-8')
    return f'config.py: added {len(blocks)} API keys (API_SECRET_KEY is random; review the rest)'


def create_tables(target: Path, python: str) -> str:
    """Create mod_api's tables with the platform's config, in a child process started in the checkout."""
    completed = subprocess.run([python, '-c', CREATE_TABLES], cwd=target, capture_output=True, text=True)
    if completed.returncode != 0:
        reason = (completed.stderr.strip().splitlines() or ['no output'])[-1]
        raise RuntimeError(f'creating the API tables failed: {reason}\n{TABLES_LATER}')
    return completed.stdout.strip() or 'mod_api tables are in place.'


def main(argv: Optional[list[str]] = None) -> int:
    """Run every step on the checkout named on the command line; 2 when it is not a checkout, 1 on failure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('target', type=Path, help='path of the sample-platform checkout')
    parser.add_argument('--python', default=sys.executable,
                        help="interpreter of the platform's environment, used to create the tables")
    parser.add_argument('--skip-tables', action='store_true', help='do not create the tables; print how to')
    arguments = parser.parse_args(argv)
    target = arguments.target.resolve()
    try:
        check_target(target)
    except NotACheckout as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    for step in (copy_package, update_requirements, register_blueprint, update_config):
        print(step(target))
    if arguments.skip_tables:
        print(f'tables: skipped\n{TABLES_LATER}')
        return 0
    try:
        print(create_tables(target, arguments.python))
    except RuntimeError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
