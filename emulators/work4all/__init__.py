"""work4all cloud API emulator: GraphQL (schema.graphql, graphql-core through Ariadne) and the OAuth2
token endpoint, over the sample export's data (see app.py)."""

from .app import DEFAULT_CLIENTS, Work4allState, build_tenant, create_app

__all__ = ["DEFAULT_CLIENTS", "Work4allState", "build_tenant", "create_app"]
