"""Which regression tests a run covers and which user started a customized run (SCHEMA §2.6)."""
from sqlalchemy import Column, ForeignKey, Integer
from sqlalchemy.orm import relationship

from database import Base


class CustomizedTest(Base):
    """Puts one regression test in the scope of one run (no uniqueness: duplicates are possible)."""

    __tablename__ = 'customized_test'

    id = Column(Integer, primary_key=True)
    test_id = Column(Integer, ForeignKey('test.id', onupdate='CASCADE', ondelete='RESTRICT'))
    test = relationship('Test', back_populates='customized_tests')
    regression_id = Column(Integer, ForeignKey('regression_test.id', onupdate='CASCADE', ondelete='CASCADE'))
    regression_test = relationship('RegressionTest')

    def __init__(self, test_id: int, regression_id: int) -> None:
        """Put regression test ``regression_id`` in scope of run ``test_id``."""
        self.test_id = test_id
        self.regression_id = regression_id


class TestFork(Base):
    """Records the user who started a customized run, which lets them restart or stop it."""

    __tablename__ = 'test_fork'

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey('user.id', onupdate='CASCADE', ondelete='RESTRICT'))
    user = relationship('User')
    test_id = Column(Integer, ForeignKey('test.id', onupdate='CASCADE', ondelete='RESTRICT'))
    test = relationship('Test')

    def __init__(self, user_id: int, test_id: int) -> None:
        """Link user ``user_id`` to run ``test_id``."""
        self.user_id = user_id
        self.test_id = test_id
