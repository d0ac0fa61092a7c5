"""Behaviour of the legacy-compatible models and enum machinery (SCHEMA.md §1.3, §2, §5.2, §10).

Model classes are reached through their modules (``test_models.Test``) so pytest does not mistake the legacy
``Test*`` classes for test classes.
"""
import pickle
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from passlib.hash import sha256_crypt, sha512_crypt
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

import database
from database import Base, DeclEnum, DeclEnumType
from exceptions import EnumParsingException, FailedToSpawnDBSession
from mod_auth import models as auth_models
from mod_ci import models as ci_models
from mod_customized import models as customized_models
from mod_home import models as home_models
from mod_regression import models as regression_models
from mod_sample import models as sample_models
from mod_test import models as test_models
from mod_upload import models as upload_models

RunStatus = test_models.TestStatus
NOON = datetime(2024, 5, 17, 12, 0, 0)


@pytest.fixture
def engine() -> Iterator:
    """A private in-memory SQLite database holding all legacy tables."""
    engine = create_engine('sqlite://')
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine) -> Iterator[Session]:
    """A plain session on the private database."""
    with Session(engine) as session:
        yield session


def add_run(session: Session, platform=test_models.TestPlatform.linux) -> test_models.Test:
    """Store a fork and a commit run on it."""
    fork = test_models.Fork('https://github.com/test_owner/test_repo.git')
    session.add(fork)
    session.flush()
    run = test_models.Test(platform, test_models.TestType.commit, fork.id, 'master', 'a' * 40)
    session.add(run)
    session.flush()
    return run


def add_regression_test(session: Session, active: bool = True) -> regression_models.RegressionTest:
    """Store a regression test (on no sample)."""
    regression_test = regression_models.RegressionTest(None, '-autoprogram', regression_models.InputType.file,
                                                       regression_models.OutputType.file, None, 10, active)
    session.add(regression_test)
    session.flush()
    return regression_test


# --- DeclEnum / EnumSymbol / DeclEnumType -------------------------------------------------------------------------

ENUMS = [
    (test_models.TestPlatform, ['linux', 'windows'], ['linux', 'windows']),
    (test_models.TestType, ['commit', 'pr'], ['commit', 'pull_request']),
    (RunStatus, ['preparation', 'testing', 'completed', 'canceled'],
     ['preparation', 'testing', 'completed', 'canceled']),
    (auth_models.Role, ['admin', 'user', 'contributor', 'tester'], ['admin', 'user', 'contributor', 'tester']),
    (regression_models.InputType, ['file', 'stdin', 'udp'], ['file', 'stdin', 'udp']),
    (regression_models.OutputType, ['file', 'null', 'tcp', 'cea708', 'multiprogram', 'stdout', 'report'],
     ['file', 'null', 'tcp', 'cea708', 'multi_program', 'stdout', 'report']),
    (upload_models.Platform, ['linux', 'windows', 'mac', 'bsd'], ['linux', 'windows', 'mac', 'bsd']),
    (upload_models.FTPActive, ['0', '1'], ['disabled', 'enabled']),
]


@pytest.mark.parametrize(('enum', 'values', 'names'), ENUMS, ids=lambda item: getattr(item, '__name__', None))
def test_enum_values_and_iteration_follow_definition_order(enum, values, names) -> None:
    """values(), iteration and from_string agree, in definition order, for every legacy enum."""
    assert enum.values() == values
    assert [symbol.name for symbol in enum] == names
    assert [enum.from_string(value) for value in values] == list(enum)


@pytest.mark.parametrize(('enum', 'name', 'value', 'description'), [
    (test_models.TestType, 'pull_request', 'pr', 'Pull Request'),
    (regression_models.OutputType, 'multi_program', 'multiprogram', 'Multi-program'),
    (upload_models.FTPActive, 'enabled', '1', 'Enabled'),
    (RunStatus, 'canceled', 'canceled', 'Canceled/Error'),
])
def test_symbol_fields_iteration_and_repr(enum, name, value, description) -> None:
    """A symbol carries name/value/description, iterates as a choice pair and shows as <name>."""
    symbol = getattr(enum, name)
    assert (symbol.name, symbol.value, symbol.description) == (name, value, description)
    assert tuple(symbol) == (value, description)
    assert repr(symbol) == f'<{name}>'
    assert enum.from_string(value) is symbol


@pytest.mark.parametrize('symbol', [test_models.TestType.pull_request, upload_models.FTPActive.disabled])
def test_symbol_unpickles_to_the_same_singleton(symbol) -> None:
    """Pickling keeps symbol identity, which equality relies on."""
    assert pickle.loads(pickle.dumps(symbol)) is symbol


@pytest.mark.parametrize(('enum', 'unknown'), [
    (test_models.TestType, 'pull_request'),  # lookup is by stored value, not by name
    (regression_models.OutputType, 'multi_program'),
    (RunStatus, 'building'),
    (test_models.TestPlatform, ''),
])
def test_from_string_rejects_unknown_values(enum, unknown, capsys) -> None:
    """Lookup is by stored value; a miss prints the legacy message and raises."""
    with pytest.raises(EnumParsingException):
        enum.from_string(unknown)
    assert capsys.readouterr().out == f'Invalid value for {enum.__name__}: {unknown}\n'


def test_enum_parsing_exception_is_not_a_value_error() -> None:
    """Legacy ValueError handlers do not catch enum parsing errors."""
    assert not issubclass(EnumParsingException, ValueError)


def test_only_public_pairs_become_symbols() -> None:
    """Non-pairs and private names stay plain class attributes."""
    class Mixed(DeclEnum):
        pair = 'p', 'Pair'
        triple = 'a', 'b', 'c'
        text = 'plain string'
        _hidden = 'h', 'Hidden'

    assert Mixed.values() == ['p']
    assert (Mixed.triple, Mixed.text, Mixed._hidden) == (('a', 'b', 'c'), 'plain string', ('h', 'Hidden'))


def test_enum_column_type_is_varchar_50() -> None:
    """Enum columns are VARCHAR(50) bound to their enum."""
    column_type = test_models.TestPlatform.db_type()
    assert isinstance(column_type, DeclEnumType)
    assert (column_type.impl.length, column_type.enum) == (50, test_models.TestPlatform)


def test_enum_column_stores_the_value(session) -> None:
    """The stored value is written, not the name (pull_request → pr)."""
    run = add_run(session)
    run.test_type = test_models.TestType.pull_request
    session.commit()
    assert session.execute(text('SELECT platform, test_type FROM test')).one() == ('linux', 'pr')


@pytest.mark.parametrize(('stored', 'loaded'), [
    ('  windows  ', test_models.TestPlatform.windows),
    ('linux\n', test_models.TestPlatform.linux),
])
def test_enum_column_load_strips_whitespace(session, stored, loaded) -> None:
    """Stored values are trimmed before the lookup."""
    session.execute(text('INSERT INTO maintenance_mode (platform, disabled) VALUES (:platform, 0)'),
                    {'platform': stored})
    assert session.get(ci_models.MaintenanceMode, 1).platform is loaded


def test_enum_column_null_loads_as_none(session) -> None:
    """NULL loads as None."""
    session.execute(text("INSERT INTO user (name, password, role) VALUES ('nobody', 'x', NULL)"))
    assert session.get(auth_models.User, 1).role is None


def test_enum_column_load_of_unknown_value_raises(session) -> None:
    """An unknown stored value (e.g. the removed "building") fails the load."""
    run = add_run(session)
    session.execute(text("INSERT INTO test_progress (test_id, status, timestamp, message) "
                         "VALUES (:test_id, 'building', '2024-05-17 12:00:00', 'old status')"), {'test_id': run.id})
    session.expunge_all()
    with pytest.raises(EnumParsingException):
        session.get(test_models.TestProgress, 1)


# --- TestStatus, Test --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(('status', 'step'), [
    (RunStatus.preparation, 0), (RunStatus.testing, 1), (RunStatus.completed, 2), (RunStatus.canceled, -1),
    (None, -1),
])
def test_progress_step(status, step) -> None:
    """Stages are preparation, testing, completed; anything else is step -1."""
    assert RunStatus.stages() == [RunStatus.preparation, RunStatus.testing, RunStatus.completed]
    assert RunStatus.progress_step(status) == step


P, T, C, X = RunStatus.preparation, RunStatus.testing, RunStatus.completed, RunStatus.canceled
RUN_STATES = [
    # statuses in id order, finished, failed, state, step
    pytest.param([], False, False, 'error', -1, id='queued'),
    pytest.param([P], False, False, 'ok', 0, id='preparation'),
    pytest.param([P, T], False, False, 'ok', 1, id='testing'),
    pytest.param([P, T, C], True, False, 'ok', 2, id='completed'),
    pytest.param([P, T, X], True, True, 'error', 1, id='canceled-after-testing'),
    pytest.param([P, X], True, True, 'error', 0, id='canceled-after-preparation'),
    pytest.param([X], True, True, 'error', -1, id='canceled-only'),
    pytest.param([P, X, X], True, True, 'error', -1, id='canceled-twice'),
    pytest.param([P, X, T], False, False, 'ok', 1, id='revived-after-cancel'),
]


@pytest.mark.parametrize(('statuses', 'finished', 'failed', 'state', 'step'), RUN_STATES)
def test_run_state_from_progress_rows(engine, statuses, finished, failed, state, step) -> None:
    """finished, failed and progress_data() follow the last row (and the one before a cancel)."""
    with Session(engine) as writer:
        run = add_run(writer)
        for minute, status in enumerate(statuses):
            writer.add(test_models.TestProgress(run.id, status, status.description, NOON + timedelta(minutes=minute)))
        writer.commit()
    with Session(engine) as reader:
        run = reader.get(test_models.Test, 1)
        data = run.progress_data()
    assert (run.finished, run.failed) == (finished, failed)
    assert data['progress'] == {'state': state, 'step': step}
    assert data['stages'] == RunStatus.stages()
    last = NOON.replace(tzinfo=UTC) + timedelta(minutes=len(statuses) - 1)
    assert data['start'] == (NOON.replace(tzinfo=UTC) if statuses else '-')
    assert data['end'] == (last if finished else '-')


def test_progress_is_ordered_by_id(session) -> None:
    """Test.progress is ordered by row id, not by timestamp."""
    run = add_run(session)
    for status, moment in [(P, NOON), (T, NOON - timedelta(hours=1))]:
        session.add(test_models.TestProgress(run.id, status, 'msg', moment))
    session.commit()
    session.expire_all()
    assert [row.status for row in run.progress] == [P, T]


def test_customized_regression_tests_fall_back_to_all_including_inactive(session) -> None:
    """Without customized_test rows every regression test is in scope."""
    active, inactive = add_regression_test(session), add_regression_test(session, active=False)
    run = add_run(session)
    assert run.get_customized_regressiontests() == [active.id, inactive.id]


def test_customized_regression_tests_keep_duplicates(session) -> None:
    """customized_test rows are returned as they are, duplicates included."""
    first, second = add_regression_test(session), add_regression_test(session)
    run = add_run(session)
    session.add_all([customized_models.CustomizedTest(run.id, regression_id)
                     for regression_id in (second.id, first.id, second.id)])
    session.commit()
    session.expire_all()
    assert run.get_customized_regressiontests() == [second.id, first.id, second.id]


@pytest.mark.parametrize(('test_type', 'link'), [
    (test_models.TestType.commit, 'https://github.com/test_owner/test_repo/commit/' + 'a' * 40),
    (test_models.TestType.pull_request, 'https://github.com/test_owner/test_repo/pull/7'),
])
def test_github_link(session, test_type, link) -> None:
    """Commit runs link to the commit, PR runs to the pull request."""
    run = add_run(session)
    run.test_type, run.pr_nr = test_type, 7
    assert run.github_link == link


def test_token_is_generated_unless_given() -> None:
    """A 64-character alphanumeric worker token is generated when none is given."""
    generated = test_models.Test(test_models.TestPlatform.linux, test_models.TestType.commit, 1, 'master', 'sha')
    given = test_models.Test(test_models.TestPlatform.linux, test_models.TestType.commit, 1, 'master', 'sha',
                             token='secret')
    assert len(generated.token) == 64 and generated.token.isalnum() and generated.token.isascii()
    assert (given.token, given.pr_nr) == ('secret', 0)
    assert len(test_models.Test.create_token(10)) == 10


@pytest.mark.parametrize(('github', 'url', 'name'), [
    ('https://github.com/CCExtractor/ccextractor.git', 'https://github.com/CCExtractor/ccextractor',
     'CCExtractor/ccextractor'),
    # every '.git' goes, even inside the name (legacy quirk)
    ('https://github.com/someone/my.github.io.git', 'https://github.com/someone/myhub.io', 'someone/myhub.io'),
])
def test_fork_url_and_name(github, url, name) -> None:
    """github_url drops every ".git"; github_name is owner/repo."""
    fork = test_models.Fork(github)
    assert (fork.github_url, fork.github_name) == (url, name)


# --- TestProgress timestamps --------------------------------------------------------------------------------------

@pytest.mark.parametrize(('given', 'stored'), [
    pytest.param(NOON, NOON.replace(tzinfo=UTC), id='naive-labelled-utc-without-conversion'),
    pytest.param(NOON.replace(tzinfo=UTC), NOON.replace(tzinfo=UTC), id='aware-utc-kept'),
    pytest.param(NOON.replace(tzinfo=timezone(timedelta(hours=2))), NOON.replace(tzinfo=timezone(timedelta(hours=2))),
                 id='aware-other-zone-kept'),
])
def test_progress_timestamp_given(given, stored) -> None:
    """A naive timestamp is labelled UTC without conversion; aware ones are kept."""
    timestamp = test_models.TestProgress(1, P, 'msg', given).timestamp
    assert (timestamp, timestamp.utcoffset()) == (stored, stored.utcoffset())


def test_progress_timestamp_defaults_to_aware_utc_now() -> None:
    """Without a timestamp the row gets now as aware UTC."""
    before = datetime.now(UTC)
    timestamp = test_models.TestProgress(1, P, 'msg').timestamp
    assert timestamp.tzinfo is UTC and before <= timestamp <= datetime.now(UTC)


def test_progress_timestamp_loaded_from_database_is_labelled_utc(engine) -> None:
    """The naive stored value comes back labelled UTC, without dirtying the row."""
    with Session(engine) as writer:
        writer.add(test_models.TestProgress(add_run(writer).id, P, 'msg', NOON))
        writer.commit()
    with engine.connect() as connection:
        assert connection.execute(text('SELECT timestamp FROM test_progress')).scalar() == '2024-05-17 12:00:00.000000'
    with Session(engine) as reader:
        row = reader.get(test_models.TestProgress, 1)
        assert (row.timestamp, row.timestamp.tzinfo) == (NOON.replace(tzinfo=UTC), UTC)
        assert not reader.dirty  # labelling does not count as a change


# --- Results and result files -------------------------------------------------------------------------------------

def test_result_file_diff(tmp_path) -> None:
    """The viewed diff stops at 50 differing lines; the download shows them all."""
    (tmp_path / 'expected.srt').write_text(''.join(f'line {number}\n' for number in range(80)))
    (tmp_path / 'got.srt').write_text(''.join(f'LINE {number}\n' for number in range(80)))
    result_file = test_models.TestResultFile(1, 1, 1, 'expected', 'got')
    result_file.regression_test_output = regression_models.RegressionTestOutput(1, 'expected', '.srt', '')
    for to_view, rows in [(True, test_models.DIFF_VIEW_LIMIT), (False, 80)]:
        html = result_file.generate_html_diff(str(tmp_path), to_view)
        assert html.count('<tr>') - 1 == rows  # minus the header row
        assert 'line&nbsp;0' in html and 'LINE&nbsp;0' in html


@pytest.mark.parametrize(('content', 'lines'), [
    ('caf\u00e9\nna\u00efve\n'.encode('utf-8'), ['caf\u00e9\n', 'na\u00efve\n']),
    (b'caf\xe9 \x80\n', ['caf\u00e9 \u20ac\n']),  # not UTF-8: read as cp1252
])
def test_read_lines_falls_back_to_cp1252(tmp_path, content, lines) -> None:
    """Output files are read as UTF-8, else as cp1252."""
    path = tmp_path / 'output.srt'
    path.write_bytes(content)
    assert test_models.TestResultFile.read_lines(str(path)) == lines


# --- Regression tests, samples ------------------------------------------------------------------------------------

def test_regression_test_category_id_is_not_a_column() -> None:
    """The category_id constructor argument is only a plain attribute."""
    regression_test = regression_models.RegressionTest(1, 'cmd', regression_models.InputType.file,
                                                       regression_models.OutputType.null, 3, 0)
    assert regression_test.category_id == 3
    assert 'category_id' not in regression_models.RegressionTest.__table__.c
    assert (regression_test.categories, regression_test.active, regression_test.description) == ([], True, '')


def test_regression_test_output_names() -> None:
    """Output file name helpers combine hash, expected suffix and extension."""
    output = regression_models.RegressionTestOutput(1, 'abc123', '.srt', '_1')
    assert output.filename_correct == 'abc123.srt'
    assert output.create_correct_filename('variant') == 'variant.srt'
    assert output.filename_expected('samplesha') == 'samplesha_1.srt'
    assert output.ignore is False


def test_variant_takes_the_hash_first() -> None:
    """RegressionTestOutputFiles takes the hash before the output id."""
    variant = regression_models.RegressionTestOutputFiles('bluedabadee', 2)
    assert (variant.file_hashes, variant.regression_test_output_id) == ('bluedabadee', 2)


@pytest.mark.parametrize(('extension', 'sample_name', 'extra_name', 'short_name'), [
    ('ts', 'abcdef123.ts', 'abcdef123_3.ts', 'abcde_3..ts'),
    ('', 'abcdef123', 'abcdef123_3', 'abcde_3.'),
])
def test_sample_and_extra_file_names(extension, sample_name, extra_name, short_name) -> None:
    """Sample and extra file names, including the double-dot short name."""
    sample = sample_models.Sample('abcdef123', extension, 'original')
    extra = sample_models.ExtraFile(1, extension, 'original')
    extra.id, extra.sample = 3, sample
    assert (sample.filename, extra.filename, extra.short_name) == (sample_name, extra_name, short_name)


@pytest.mark.parametrize(('extension', 'with_dot'), [('srt', '.srt'), ('', '')])
def test_get_extension(extension, with_dot) -> None:
    """get_extension adds the dot only to a non-empty extension."""
    assert sample_models.get_extension(extension) == with_dot


def test_issue_date_is_parsed_to_naive_datetime() -> None:
    """GitHub's issue timestamp is stored as a naive datetime."""
    issue = sample_models.Issue(1, 42, '2024-05-17T12:00:00Z', 'Title', 'octocat', 'open')
    assert issue.created_at == NOON


def test_tags_link_samples(session) -> None:
    """Tags and samples are linked both ways through sample_tag_association."""
    sample, tag = sample_models.Sample('sha', 'ts', 'name'), sample_models.Tag('dvb')
    sample.tags.append(tag)
    session.add(sample)
    session.commit()
    assert (tag.samples, tag.description) == ([sample], '')


# --- Users ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(('stored', 'candidate', 'valid'), [
    (sha512_crypt.using(rounds=5000).hash('correct horse'), 'correct horse', True),
    (sha512_crypt.using(rounds=5000).hash('correct horse'), 'wrong horse', False),
    (sha256_crypt.using(rounds=5000).hash('correct horse'), 'correct horse', True),
])
def test_password_is_checked_against_the_stored_hash(stored, candidate, valid) -> None:
    """Any sha512_crypt/sha256_crypt hash verifies, whatever its rounds."""
    assert auth_models.User('name', password=stored).is_password_valid(candidate) is valid


def test_password_check_raises_for_an_unusable_stored_hash() -> None:
    """A raw (unhashed) stored password raises, like the legacy."""
    user = auth_models.User('deactivated', password=auth_models.User.create_random_password())
    with pytest.raises(ValueError):
        user.is_password_valid('anything')


def test_update_password_uses_the_admin_category_hash() -> None:
    """New hashes are sha512_crypt with the admin category rounds."""
    user = auth_models.User('name')
    user.update_password('secret')
    assert user.password.startswith('$6$rounds=1024000$') and len(user.password) == 121


def test_random_password_alphabet() -> None:
    """Generated passwords use letters, digits and !@#$%^&*()."""
    password = auth_models.User.create_random_password(200)
    assert len(password) == 200 and set(password) <= set(auth_models.PASSWORD_ALPHABET)
    assert len(auth_models.User.create_random_password()) == 16


Role = auth_models.Role


@pytest.mark.parametrize(('role', 'is_admin', 'has_tester', 'has_user'), [
    (Role.admin, True, True, True),
    (Role.tester, False, True, False),
    (Role.user, False, False, True),
    (None, False, False, False),
])
def test_roles(role, is_admin, has_tester, has_user) -> None:
    """is_admin and has_role; admins have every role."""
    user = auth_models.User('name', role)
    assert (user.is_admin, user.has_role('tester'), user.has_role('user')) == (is_admin, has_tester, has_user)


def test_user_defaults() -> None:
    """Constructor defaults: role user, no email, empty password, no token."""
    user = auth_models.User('name')
    assert (user.role, user.email, user.password, user.github_token) == (Role.user, None, '', None)


# --- Home, CI and upload models -----------------------------------------------------------------------------------

def test_ccextractor_version_keeps_the_release_date() -> None:
    """released is parsed from GitHub's timestamp and keeps only the date."""
    version = home_models.CCExtractorVersion('1.2.3', '2013-02-27T19:35:32Z', 'abc')
    assert version.released == date(2013, 2, 27)
    with pytest.raises(ValueError):
        home_models.CCExtractorVersion('1.2.3', '2013-02-27', 'abc')


def test_ci_model_defaults(session) -> None:
    """CI bookkeeping rows default to naive local times; status strings are GitHub's."""
    before = datetime.now()
    instance = ci_models.GcpInstance('linux-1', 1)
    deletion = ci_models.PendingDeletion('linux-1', 'operation')
    maintenance = ci_models.MaintenanceMode(test_models.TestPlatform.windows, True)
    assert instance.timestamp.tzinfo is None and before <= instance.timestamp <= datetime.now()
    assert deletion.created_at.tzinfo is None and (deletion.retry_count, deletion.MAX_RETRIES) == (0, 5)
    assert maintenance.disabled is True
    assert (ci_models.Status.PENDING, ci_models.Status.FAILURE) == ('pending', 'failure')


def test_ftp_credentials_defaults(session) -> None:
    """FTP accounts get random credentials, a per-user home and pure-ftpd defaults."""
    credentials = upload_models.FTPCredentials(7)
    session.add(credentials)
    session.commit()
    assert (credentials.status, credentials.dir, credentials.ip_access, credentials.quota_files) == \
        (upload_models.FTPActive.enabled, '/repository/ftpd/7', '*', 20)
    assert (credentials.uid, credentials.gid) == (2015, 2015)
    assert (len(credentials.user_name), len(credentials.password)) == (32, 64)
    assert session.execute(text('SELECT status FROM ftpd')).scalar() == '1'


def test_upload_models(session) -> None:
    """QueuedSample.filename keeps the dotted extension; Upload is the one-to-one Sample.upload."""
    queued = upload_models.QueuedSample('abc', '.ts', 'name', 1)
    upload = upload_models.Upload(1, None, None, upload_models.Platform.mac)
    sample = sample_models.Sample('sha', 'ts', 'name')
    sample.upload = upload
    session.add(sample)
    session.commit()
    assert queued.filename == 'abc.ts'
    assert (upload.sample, upload.parameters, upload.notes) == (sample, '', '')


# --- create_session -----------------------------------------------------------------------------------------------

def test_create_session_caches_one_engine_and_rebinds_query(monkeypatch, capsys) -> None:
    """One cached engine, a new session per call, Base.query on the newest, errors wrapped."""
    monkeypatch.setattr(database, 'db_engine', None)
    monkeypatch.setattr(Base, 'query', None)
    first = database.create_session('sqlite:///:memory:')
    shared_engine = database.db_engine
    first.add(home_models.GeneralData('last_commit', 'abc'))
    first.commit()
    second = database.create_session('sqlite:////ignored/because/the/engine/is/cached.db')
    assert second is not first and database.db_engine is shared_engine
    assert home_models.GeneralData.query.session is second()
    assert [row.value for row in home_models.GeneralData.query.all()] == ['abc']  # one shared in-memory database
    third = database.create_session('sqlite:///:memory:', drop_tables=True)
    assert home_models.GeneralData.query.count() == 0

    monkeypatch.setattr(database, 'db_engine', None)
    with pytest.raises(FailedToSpawnDBSession):
        database.create_session('sqlite:////nonexistent-folder/legacy.db')
    assert 'unable to open database file' in capsys.readouterr().out
    for scoped in (first, second, third):
        scoped.remove()
    shared_engine.dispose()
