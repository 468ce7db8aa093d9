"""The strawberry schema, built for the limits in force (rebuilt when a reload changes them)."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.types import ExecutionContext

from bff_web.graphql.limits import extensions_for
from bff_web.graphql.types import Query
from bff_web.settings import GraphQLSettings


class Schema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        # Errors are logged where they are formatted (bff_web.graphql.errors): expected
        # ones (upstream down, bad input) as a line, bugs with their traceback.
        return None


def build_schema(settings: GraphQLSettings) -> Schema:
    return Schema(query=Query, extensions=extensions_for(settings))


def sdl() -> str:
    """The schema in SDL, as committed in docs/api/bff_web.graphql."""
    return str(strawberry.Schema(query=Query)) + "\n"
