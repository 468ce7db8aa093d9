"""Protection against abusive documents: depth, aliases, tokens (strawberry's own
extensions) and an estimated query cost (ours, as a validation rule).

Cost: every field costs 1; a field taking ``first`` multiplies the cost of its selection
by ``first`` (or by its default when the argument is absent or a variable), so
``orders(first: 50) { items { product { related(first: 50) { name } } } }`` is priced as
the fan-out it would cause, before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    ASTValidationRule,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)

from bff_web.settings import GraphQLSettings

#: Page size assumed for a list field whose ``first`` is absent or a variable.
DEFAULT_FIRST = 10


def cost_rule(max_cost: int) -> type[ValidationRule]:
    class QueryCost(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self._fragments = {
                d.name.value: d for d in context.document.definitions if isinstance(d, FragmentDefinitionNode)
            }

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            cost = self._cost(node.selection_set, depth=0)
            if cost > max_cost:
                self.report_error(
                    GraphQLError(
                        f"query cost {cost} exceeds the limit of {max_cost}; ask for fewer items (first) or fields",
                        node,
                        extensions={"code": "QUERY_TOO_COMPLEX", "cost": cost, "limit": max_cost},
                    )
                )

        def _cost(self, selection_set: SelectionSetNode | None, depth: int) -> int:
            if selection_set is None or depth > 64:
                return 0
            total = 0
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    total += 1 + _multiplier(selection) * self._cost(selection.selection_set, depth + 1)
                elif isinstance(selection, InlineFragmentNode):
                    total += self._cost(selection.selection_set, depth + 1)
                elif isinstance(selection, FragmentSpreadNode):
                    fragment = self._fragments.get(selection.name.value)
                    if fragment is not None:
                        total += self._cost(fragment.selection_set, depth + 1)
            return total

    return QueryCost


def _multiplier(field: FieldNode) -> int:
    for argument in field.arguments or ():
        if argument.name.value == "first":
            if isinstance(argument.value, IntValueNode):
                return max(1, int(argument.value.value))
            return DEFAULT_FIRST
    return 1


def extensions_for(settings: GraphQLSettings) -> list[Callable[[], SchemaExtension]]:
    """Extension factories for these settings: fresh instances per request (strawberry sets
    per-request state on them), sharing caches and rule classes built once here, so the
    validation cache can key on a stable rule set."""
    rules: list[type[ASTValidationRule]] = [
        *QueryDepthLimiter(max_depth=settings.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
        cost_rule(settings.max_cost),
    ]
    if not settings.introspection:
        rules += DisableIntrospection().validation_rules
    max_tokens = settings.max_tokens
    return [
        lambda: ParserCache(maxsize=512),
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        lambda: AddValidationRules(rules),
        lambda: ValidationCache(maxsize=512),
    ]


__all__ = ["DEFAULT_FIRST", "cost_rule", "extensions_for"]
