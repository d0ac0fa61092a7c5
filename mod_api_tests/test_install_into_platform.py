"""install/install_into_platform.py: refuses what is not a checkout, installs mod_api, and a rerun changes nothing."""
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / 'install' / 'install_into_platform.py'
LEGACY_MODULES = ('database.py', 'exceptions.py', 'mod_auth', 'mod_ci', 'mod_customized', 'mod_home',
                  'mod_regression', 'mod_sample', 'mod_test', 'mod_upload')
PLATFORM_RUN = """import os
from flask import Flask

raise RuntimeError('the installer must never import run.py')
app = Flask(__name__)

if __name__ == '__main__':
    app.run()
"""

pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason='install/ is not part of a platform checkout')


def install(target: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(target), *options], capture_output=True, text=True,
                          timeout=120)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob('*'))
            if path.is_file() and '__pycache__' not in path.parts}


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A minimal sample-platform checkout: the legacy data layer, a run.py that must not be imported, config.py."""
    target = tmp_path / 'sample-platform'
    target.mkdir()
    ignore = shutil.ignore_patterns('__pycache__')
    for name in LEGACY_MODULES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=ignore)
        else:
            shutil.copy(source, target / name)
    (target / 'run.py').write_text(PLATFORM_RUN)
    (target / 'requirements.txt').write_text('Flask==3.1.3\nPyMySQL==1.2.0\nsqlalchemy==2.0.51\npasslib==1.7.4')
    database = tmp_path / 'platform.db'
    (target / 'config.py').write_text(f"DATABASE_URI = 'sqlite:///{database}'\nAPI_READ_LIMIT = '99/minute'\n")
    return target


def test_refuses_a_folder_that_is_not_a_checkout(tmp_path):
    (tmp_path / 'run.py').write_text('')
    result = install(tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert 'not a sample-platform checkout' in result.stderr and 'database.py' in result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ['run.py']


def test_refuses_its_own_checkout():
    result = install(ROOT)
    assert result.returncode == 2 and 'itself' in result.stderr


def test_installs_into_a_checkout(checkout, tmp_path):
    result = install(checkout)
    assert result.returncode == 0, result.stderr
    assert set(snapshot(checkout / 'mod_api')) == set(snapshot(ROOT / 'mod_api'))
    requirements = (checkout / 'requirements.txt').read_text()
    assert requirements.startswith('Flask==3.1.3\nPyMySQL==1.2.0\nsqlalchemy==2.0.51\npasslib==1.7.4\n')
    names = [line.split('==')[0].lower() for line in requirements.splitlines() if '==' in line]
    assert names.count('flask') == 1 and names.count('sqlalchemy') == 1
    assert 'flask-limiter[redis]' in names and 'flask-sqlalchemy' in names and 'mysqlclient' not in names
    run_py = (checkout / 'run.py').read_text()
    block = run_py.index('init_mod_api(app)')
    assert run_py.index('app = Flask(__name__)') < block < run_py.index("if __name__ == '__main__':")
    compile(run_py, 'run.py', 'exec')
    config: dict = {}
    exec((checkout / 'config.py').read_text(), config)
    assert config['API_READ_LIMIT'] == '99/minute'
    assert len(config['API_SECRET_KEY']) >= 32 and config['API_TRUSTED_PROXY_HOPS'] == 1
    assert config['API_MAX_BODY_BYTES'] == 65536
    with sqlite3.connect(tmp_path / 'platform.db') as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {'api_token', 'api_audit_log'} <= tables
    assert 'user' not in tables


def test_a_second_run_changes_no_file(checkout):
    assert install(checkout).returncode == 0
    before = snapshot(checkout)
    result = install(checkout)
    assert result.returncode == 0, result.stderr
    assert snapshot(checkout) == before
    assert 'already' in result.stdout and 'nothing to add' in result.stdout


def test_replaces_an_older_copy_of_mod_api(checkout):
    (checkout / 'mod_api').mkdir()
    (checkout / 'mod_api' / 'stale.py').write_text('OLD = True\n')
    result = install(checkout, '--skip-tables')
    assert result.returncode == 0, result.stderr
    assert 'replaced' in result.stdout
    assert not (checkout / 'mod_api' / 'stale.py').exists()
    assert (checkout / 'mod_api' / '__init__.py').exists()
