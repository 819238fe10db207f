"""The shared stores' engine: PostgreSQL with pgvector, used when ``[store] url`` is set.

Only this package (and the stores built on it) imports psycopg, and only then.
"""

from .connect import Database, StoreUnavailable, advisory_key

__all__ = ["Database", "StoreUnavailable", "advisory_key"]
