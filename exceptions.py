"""Error types of the legacy-compatible data layer (same names and bases as the legacy ``exceptions`` module)."""


class EnumParsingException(Exception):
    """A stored enum value matches no symbol of its DeclEnum; deliberately not a ValueError, like the legacy."""


class FailedToSpawnDBSession(Exception):
    """``database.create_session`` could not build its engine, session or tables."""


class TestNotFoundException(Exception):
    """A CI run (``test`` row) that was asked for does not exist."""


class SampleNotFoundException(Exception):
    """A sample that was asked for does not exist."""


class QueuedSampleNotFoundException(Exception):
    """A queued upload (``upload_queue`` row) that was asked for does not exist."""
