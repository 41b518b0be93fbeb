"""GET /api/migrations/{id} through the Function App's handler, with the Durable extension faked as
tests/http fakes it (its fixtures, reused)."""

from tests.http.conftest import host, settings  # noqa: F401 - fixtures
