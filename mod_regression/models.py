"""Regression tests, categories, expected outputs and their accepted variants (SCHEMA §2.4)."""

from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import relationship

from database import Base, DeclEnum, EnumSymbol


class InputType(DeclEnum):
    """How CCExtractor receives the sample."""

    file = 'file', 'File'
    stdin = 'stdin', 'Stdin'
    udp = 'udp', 'UDP'


class OutputType(DeclEnum):
    """Where CCExtractor writes its output (``multi_program`` is stored as ``multiprogram``)."""

    file = 'file', 'File'
    null = 'null', 'Null'
    tcp = 'tcp', 'TCP'
    cea708 = 'cea708', 'CEA-708'
    multi_program = 'multiprogram', 'Multi-program'
    stdout = 'stdout', 'Stdout'
    report = 'report', 'Report'


# Category <-> RegressionTest link table: no primary key, so duplicate links are possible (as in the legacy).
regressionTestLinkTable = Table(
    'regression_test_category', Base.metadata,
    Column('regression_id', Integer, ForeignKey('regression_test.id', onupdate='CASCADE', ondelete='RESTRICT')),
    Column('category_id', Integer, ForeignKey('category.id', onupdate='CASCADE', ondelete='RESTRICT')),
)


class Category(Base):
    """A named group of regression tests; results pages group by it."""

    __tablename__ = 'category'

    id = Column(Integer, primary_key=True)
    name = Column(String(64), unique=True)
    description = Column(Text(), nullable=False)
    regression_tests = relationship('RegressionTest', secondary=regressionTestLinkTable, back_populates='categories')

    def __init__(self, name: str, description: str) -> None:
        """Create a category."""
        self.name = name
        self.description = description


class RegressionTest(Base):
    """A CCExtractor invocation on a sample with its expected exit code and output files."""

    __tablename__ = 'regression_test'

    id = Column(Integer, primary_key=True)
    sample_id = Column(Integer, ForeignKey('sample.id', onupdate='CASCADE', ondelete='CASCADE'))
    sample = relationship('Sample', back_populates='tests')
    command = Column(Text(), nullable=False)
    input_type = Column(InputType.db_type())
    output_type = Column(OutputType.db_type())
    categories = relationship('Category', secondary=regressionTestLinkTable, back_populates='regression_tests')
    output_files = relationship('RegressionTestOutput', back_populates='regression_test')
    expected_rc = Column(Integer)
    active = Column(Boolean(), default=True)
    last_passed_on_windows = Column(Integer, ForeignKey('test.id', onupdate='CASCADE', ondelete='SET NULL'))
    last_passed_on_linux = Column(Integer, ForeignKey('test.id', onupdate='CASCADE', ondelete='SET NULL'))
    description = Column(String(length=1024))

    def __init__(self, sample_id: int, command: str, input_type: EnumSymbol, output_type: EnumSymbol,
                 category_id: int | None, expected_rc: int, active: bool = True, description: str = '') -> None:
        """Create a regression test.

        ``category_id`` is only kept as a plain attribute, as in the legacy: membership comes from the link table
        (append to ``Category.regression_tests``).
        """
        self.sample_id = sample_id
        self.command = command
        self.input_type = input_type
        self.output_type = output_type
        self.category_id = category_id
        self.expected_rc = expected_rc
        self.active = active
        self.description = description


class RegressionTestOutput(Base):
    """An output file a regression test must produce, named by the reference file's hash plus its extension."""

    __tablename__ = 'regression_test_output'

    id = Column(Integer, primary_key=True)
    regression_id = Column(Integer, ForeignKey('regression_test.id', onupdate='CASCADE', ondelete='RESTRICT'))
    regression_test = relationship('RegressionTest', back_populates='output_files')
    correct = Column(Text())
    correct_extension = Column(String(64), nullable=False)
    expected_filename = Column(Text())
    ignore = Column(Boolean(), default=False)
    multiple_files = relationship('RegressionTestOutputFiles', back_populates='output')

    def __init__(self, regression_id: int, correct: str, correct_extension: str, expected_filename: str,
                 ignore: bool = False) -> None:
        """Create an expected output; ``correct_extension`` includes the dot (e.g. ``.srt``)."""
        self.regression_id = regression_id
        self.correct = correct
        self.correct_extension = correct_extension
        self.expected_filename = expected_filename
        self.ignore = ignore

    @property
    def filename_correct(self) -> str:
        """File name of the reference output in ``TestResults/``."""
        return self.create_correct_filename(self.correct)

    def create_correct_filename(self, name: str) -> str:
        """``name`` with this output's extension appended."""
        return name + self.correct_extension

    def filename_expected(self, sample_hash: str) -> str:
        """Name CCExtractor gives this output when run on the sample with hash ``sample_hash``."""
        return sample_hash + self.expected_filename + self.correct_extension


class RegressionTestOutputFiles(Base):
    """One additional accepted baseline (variant) of an output: ``file_hashes`` holds a single SHA-256."""

    __tablename__ = 'regression_test_output_files'

    id = Column(Integer, primary_key=True)
    file_hashes = Column(Text())
    regression_test_output_id = Column(Integer, ForeignKey('regression_test_output.id', onupdate='CASCADE',
                                                           ondelete='RESTRICT'))
    output = relationship('RegressionTestOutput', back_populates='multiple_files')

    def __init__(self, file_hashes: str, regression_test_output_id: int) -> None:
        """Create a variant (note the legacy parameter order: hash first)."""
        self.file_hashes = file_hashes
        self.regression_test_output_id = regression_test_output_id
