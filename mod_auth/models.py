"""Platform users (table ``user``) and the Role enum; passwords are passlib sha512_crypt hashes (SCHEMA §2.1, §10)."""
import string

from passlib.apps import custom_app_context
from sqlalchemy import Column, Integer, String, Text

from database import Base, DeclEnum, EnumSymbol, random_string

PASSWORD_ALPHABET = string.ascii_letters + string.digits + '!@#$%^&*()'


class Role(DeclEnum):
    """What a platform user may do; ``admin`` implies every other role."""

    admin = 'admin', 'Admin'
    user = 'user', 'User'
    contributor = 'contributor', 'Contributor'
    tester = 'tester', 'Tester'


class User(Base):
    """A platform account: login by email, password stored as a passlib hash, one role."""

    __tablename__ = 'user'

    id = Column(Integer, primary_key=True)
    name = Column(String(50), unique=True)
    email = Column(String(255), unique=True)
    github_token = Column(Text())
    password = Column(String(255), nullable=False)
    role = Column(Role.db_type())

    def __init__(self, name: str, role: EnumSymbol = Role.user, email: str | None = None, password: str = '',
                 github_token: str | None = None) -> None:
        """Create a user; ``password`` is stored as given, so callers pass a hash (see :meth:`generate_hash`)."""
        self.name = name
        self.role = role
        self.email = email
        self.password = password
        self.github_token = github_token

    @staticmethod
    def generate_hash(password: str) -> str:
        """Hash a password the legacy way: passlib custom_app_context, ``admin`` category (1,024,000 rounds)."""
        return custom_app_context.hash(password, category='admin')

    @staticmethod
    def create_random_password(length: int = 16) -> str:
        """Random password of letters, digits and ``!@#$%^&*()``."""
        return random_string(length, PASSWORD_ALPHABET)

    def is_password_valid(self, password: str) -> bool:
        """Check ``password`` against the stored hash with passlib ``verify``.

        Any sha512_crypt/sha256_crypt hash verifies whatever its rounds. Like the legacy, a stored value that is
        not a recognisable hash (e.g. the raw password of a deactivated account) raises passlib's
        ``UnknownHashError``, a ValueError.
        """
        return custom_app_context.verify(password, self.password)

    def update_password(self, new_password: str) -> None:
        """Store the hash of ``new_password``."""
        self.password = self.generate_hash(new_password)

    @property
    def is_admin(self) -> bool:
        """True when the user's role is ``admin``."""
        return self.role is Role.admin

    def has_role(self, name: str) -> bool:
        """True when the role's stored value is ``name``, and always for admins."""
        return self.is_admin or (self.role is not None and self.role.value == name)
