"""Private PostgreSQL and Redis servers started from the installed binaries.

Used by ``make dev`` (data under ``.dev/``) and by the test suite (data in a temporary
directory, free ports), so that fault tests can stop, kill and restart them.
"""

from cga_devstack.postgres import PostgresServer
from cga_devstack.redis import RedisServer

__all__ = ["PostgresServer", "RedisServer"]
