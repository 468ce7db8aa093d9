"""Protection against abusive documents: tokens (strawberry's limiter, while parsing), and
depth, aliases and an estimated cost (ours, one validation rule).

Every rule here runs in time linear in the document: each fragment is measured once and
its measure reused wherever it is spread, so a document whose fragments spread an earlier
fragment twice, thirty levels deep, costs thirty measurements, not 2^30 walks. Measures
saturate at ``SATURATED`` so a hostile ``first: 99999999999999999999`` cannot grow them
into huge integers.

* depth: the nesting of selections under the operation (leaf fields of the top level are
  at depth 0; introspection fields do not count, so GraphiQL's schema query passes);
* aliases: aliased fields, counted wherever a fragment is spread;
* cost: every field costs 1; a field taking ``first`` multiplies the cost of its
  selection by ``first`` (or by ``DEFAULT_FIRST`` when the argument is absent or a
  variable), so ``orders(first: 50) { items { product { related(first: 50) { name } } } }``
  is priced as the fan-out it would cause, before anything runs.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.language import TokenKind
from strawberry.extensions import DisableIntrospection, MaxTokensLimiter, ParserCache, SchemaExtension
from strawberry.schema.schema import validate_document  # strawberry's rules on top of the specification's

from bff_web.settings import GraphQLSettings

#: Page size assumed for a list field whose ``first`` is absent or a variable.
DEFAULT_FIRST = 10
#: Measures stop growing here: far above any limit, small enough for machine integers.
SATURATED = 10**15
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


@dataclass(frozen=True, slots=True)
class Measure:
    depth: int = 0
    aliases: int = 0
    cost: int = 0
    #: ``__schema`` selections: each answers with the whole schema, whatever it costs here.
    schemas: int = 0
    #: Aliased fields inside introspection (``a: types … b: types …`` repeats the schema).
    introspection_aliases: int = 0


@dataclass(slots=True)
class RequestBudget:
    """What the documents of one request (a batch) may use together: each is within the
    limits on its own, and a batch must not multiply them."""

    tokens: int
    schemas: int = 1


_ZERO = Measure()


class DocumentMeasurer:
    """Measures the operations of one document, each fragment once.

    ``visits`` counts the selections looked at: the work done, which tests compare
    across documents of growing size (it must grow with the document, not with what
    its fragments expand to).
    """

    def __init__(self, document: DocumentNode) -> None:
        self.visits = 0
        #: A fragment spreads itself (through others): NoFragmentCyclesRule reports it.
        self.cyclic = False
        #: ``(field, argument, literal)`` of every Int literal outside GraphQL's 32-bit range.
        self.out_of_range: list[tuple[str, str, str]] = []
        self._fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self._measured: dict[str, Measure] = {}
        self._measure_fragments()

    def operation(self, node: OperationDefinitionNode) -> Measure:
        return self._selection_set(node.selection_set, introspective=False)

    def overlap_checks(self, node: OperationDefinitionNode, budget: int) -> int:
        """How many field comparisons validating this operation takes, counted until past ``budget``.

        The specification's OverlappingFieldsCanBeMerged rule compares every pair of fields
        that land on one response key, and then their merged sub-selections, so ``{ a a a
        … }`` costs the square of its length. This walks the operation the way the rule
        merges it (fragments expanded, each once per merged selection) and counts the
        selections visited plus the pairs compared; it stops as soon as the count passes
        ``budget``, so its own work is bounded by the budget too. Call it only on an acyclic
        document.
        """
        work = 0
        merged: list[list[SelectionSetNode]] = [[node.selection_set]]
        while merged:
            by_key: dict[str, list[FieldNode]] = {}
            pending = merged.pop()
            expanded: set[str] = set()
            while pending:
                for selection in pending.pop().selections:
                    work += 1
                    if isinstance(selection, FieldNode):
                        key = (selection.alias or selection.name).value
                        by_key.setdefault(key, []).append(selection)
                    elif isinstance(selection, InlineFragmentNode):
                        pending.append(selection.selection_set)
                    elif isinstance(selection, FragmentSpreadNode):
                        name = selection.name.value
                        if name not in expanded and name in self._fragments:
                            expanded.add(name)
                            pending.append(self._fragments[name].selection_set)
                if work > budget:
                    return work
            for fields in by_key.values():
                work += len(fields) * (len(fields) - 1) // 2
                inner = [field.selection_set for field in fields if field.selection_set is not None]
                if inner:
                    merged.append(inner)
            if work > budget:
                return work
        self.visits += work
        return work

    def _measure_fragments(self) -> None:
        # Post-order over the spread graph with an explicit stack: a chain of hundreds of
        # fragments must not hit Python's recursion limit. A fragment still being measured
        # (a cycle, which NoFragmentCyclesRule reports) counts as empty.
        in_progress: set[str] = set()
        for root in self._fragments:
            stack: list[tuple[str, Iterator[str]]] = []
            if root not in self._measured:
                in_progress.add(root)
                stack.append((root, iter(self._spreads(self._fragments[root].selection_set))))
            while stack:
                name, pending = stack[-1]
                child = next(pending, None)
                if child is None:
                    stack.pop()
                    fragment = self._fragments[name]
                    introspective = fragment.type_condition.name.value.startswith("__")
                    self._measured[name] = self._selection_set(fragment.selection_set, introspective=introspective)
                    in_progress.discard(name)
                elif child in in_progress:
                    self.cyclic = True
                elif child in self._fragments and child not in self._measured:
                    in_progress.add(child)
                    stack.append((child, iter(self._spreads(self._fragments[child].selection_set))))

    def _spreads(self, selection_set: SelectionSetNode | None) -> Iterator[str]:
        if selection_set is None:
            return
        for selection in selection_set.selections:
            if isinstance(selection, FragmentSpreadNode):
                yield selection.name.value
            elif isinstance(selection, (FieldNode, InlineFragmentNode)):
                yield from self._spreads(selection.selection_set)

    def _selection_set(self, selection_set: SelectionSetNode | None, *, introspective: bool) -> Measure:
        if selection_set is None:
            return _ZERO
        depth = aliases = cost = schemas = introspection_aliases = 0
        for selection in selection_set.selections:
            self.visits += 1
            if isinstance(selection, FieldNode):
                name = selection.name.value
                for argument in selection.arguments or ():
                    if isinstance(argument.value, IntValueNode) and not _is_int32(argument.value.value):
                        self.out_of_range.append((name, argument.name.value, argument.value.value))
                inside = introspective or name in ("__schema", "__type")
                inner = self._selection_set(selection.selection_set, introspective=inside)
                if selection.selection_set is not None and not name.startswith("__"):
                    depth = max(depth, inner.depth + 1)
                aliases += inner.aliases + (selection.alias is not None)
                cost += 1 + _multiplier(selection) * inner.cost
                schemas += inner.schemas + (name == "__schema")
                introspection_aliases += inner.introspection_aliases + (introspective and selection.alias is not None)
            else:
                if isinstance(selection, InlineFragmentNode):
                    inner = self._selection_set(selection.selection_set, introspective=introspective)
                elif isinstance(selection, FragmentSpreadNode):
                    inner = self._measured.get(selection.name.value, _ZERO)
                else:
                    continue
                depth = max(depth, inner.depth)
                aliases += inner.aliases
                cost += inner.cost
                schemas += inner.schemas
                introspection_aliases += inner.introspection_aliases
            aliases, cost, schemas = min(aliases, SATURATED), min(cost, SATURATED), min(schemas, SATURATED)
            introspection_aliases = min(introspection_aliases, SATURATED)
        return Measure(depth, aliases, cost, schemas, introspection_aliases)


class DocumentValidator:
    """Validates documents with the limits first: a document past a limit is refused
    before the specification's rules run, so those rules only ever see documents whose
    size, depth, cost and overlap are bounded. Results are remembered per document text."""

    def __init__(self, settings: GraphQLSettings, cache_size: int = 512) -> None:
        self.settings = settings
        self._extra_rules: tuple[type[ASTValidationRule], ...] = (
            () if settings.introspection else tuple(DisableIntrospection().validation_rules)
        )
        self._cache: OrderedDict[str, tuple[list[GraphQLError], int, int]] = OrderedDict()
        self._cache_size = cache_size

    def validate(
        self,
        schema: GraphQLSchema,
        query: str,
        document: DocumentNode,
        rules: tuple[type[ASTValidationRule], ...],
        budget: RequestBudget | None = None,
    ) -> list[GraphQLError]:
        """The document's errors; with ``budget``, what it uses is taken from the request's
        first, so a batch past its budget is refused before its documents are validated."""
        cached = self._cache.get(query)
        tokens = _token_count(document) if cached is None else cached[1]
        if budget is not None:
            budget.tokens -= tokens
            if budget.tokens < 0:
                message = f"the documents of this batch hold more than {self.settings.max_tokens} tokens together"
                return [
                    GraphQLError(message, extensions={"code": "BATCH_TOO_LARGE", "limit": self.settings.max_tokens})
                ]
        if cached is None:
            errors, schemas = self._limits(document)
            errors = errors or validate_document(schema, document, rules + self._extra_rules)
            cached = self._cache[query] = (errors, tokens, schemas)
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(query)
        errors, _, schemas = cached
        if budget is not None and not errors:
            budget.schemas -= schemas
            if budget.schemas < 0:
                message = "one request may ask for __schema once; send the introspection query alone"
                return [GraphQLError(message, extensions={"code": "QUERY_TOO_COMPLEX"})]
        return errors

    def limit_errors(self, document: DocumentNode) -> list[GraphQLError]:
        """The first limit the document crosses, as an error; none when it is within them all."""
        return self._limits(document)[0]

    def _limits(self, document: DocumentNode) -> tuple[list[GraphQLError], int]:
        """``limit_errors``, and how many ``__schema`` selections the largest operation makes."""
        limits = self.settings
        measurer = DocumentMeasurer(document)
        operations = [node for node in document.definitions if isinstance(node, OperationDefinitionNode)]
        measures = [measurer.operation(node) for node in operations]
        schemas = max((measure.schemas for measure in measures), default=0)
        if measurer.out_of_range:
            field, argument, literal = measurer.out_of_range[0]
            message = (
                f"argument '{argument}' of '{field}' is {literal[:40]}, outside the Int range "
                f"({INT32_MIN} to {INT32_MAX})"
            )
            return [GraphQLError(message, extensions={"code": "BAD_USER_INPUT", "field": argument})], schemas
        for node, measure in zip(operations, measures, strict=True):
            name = f"'{node.name.value}'" if node.name else "anonymous operation"
            if measure.depth > limits.max_depth:
                message = f"{name} exceeds maximum operation depth of {limits.max_depth}"
                return [_refusal(message, node, "QUERY_TOO_DEEP", depth=measure.depth, limit=limits.max_depth)], schemas
            if measure.aliases > limits.max_aliases:
                message = f"{_amount(measure.aliases)} aliases found. Allowed: {limits.max_aliases}"
                return [
                    _refusal(message, node, "TOO_MANY_ALIASES", aliases=measure.aliases, limit=limits.max_aliases)
                ], schemas
            if measure.cost > limits.max_cost:
                message = (
                    f"query cost {_amount(measure.cost)} exceeds the limit of {limits.max_cost}; "
                    "ask for fewer items (first) or fields"
                )
                return [_refusal(message, node, "QUERY_TOO_COMPLEX", cost=measure.cost, limit=limits.max_cost)], schemas
            if measure.schemas > 1 or measure.introspection_aliases:
                message = f"{name} repeats introspection; ask for __schema once and each of its fields once"
                return [_refusal(message, node, "QUERY_TOO_COMPLEX")], schemas
            if not measurer.cyclic:
                checks = measurer.overlap_checks(node, limits.max_overlap_checks)
                if checks > limits.max_overlap_checks:
                    message = (
                        f"{name} repeats fields too often to validate (more than {limits.max_overlap_checks} "
                        "field comparisons); ask for each field once"
                    )
                    return [_refusal(message, node, "QUERY_TOO_COMPLEX", limit=limits.max_overlap_checks)], schemas
        return [], schemas


class _ValidateWithLimits(SchemaExtension):
    def __init__(self, validator: DocumentValidator) -> None:
        self._validator = validator

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        assert document is not None and context.query is not None
        budget = getattr(context.context, "budget", None)  # the request's (GraphQLContext.budget)
        errors = self._validator.validate(
            context.schema._schema,
            context.query,
            document,
            context.validation_rules,
            budget if isinstance(budget, RequestBudget) else None,
        )
        # Strawberry runs the first of several operations when no operationName is given;
        # the GraphQL specification makes that a request error (GetOperation, 6.1).
        if not errors and getattr(context, "_provided_operation_name", None) is None:
            count = sum(isinstance(node, OperationDefinitionNode) for node in document.definitions)
            if count > 1:
                message = f"the document holds {count} operations; name the one to run in 'operationName'"
                errors = [GraphQLError(message, extensions={"code": "OPERATION_RESOLUTION_FAILURE"})]
        context.pre_execution_errors = errors
        yield


def _token_count(document: DocumentNode) -> int:
    """Lexical tokens of a parsed document (its token list, as the parser linked it)."""
    count, token = 0, document.loc.start_token.next if document.loc else None
    while token is not None and token.kind is not TokenKind.EOF:
        count, token = count + 1, token.next
    return count


def _refusal(message: str, node: OperationDefinitionNode, code: str, **extensions: int) -> GraphQLError:
    return GraphQLError(message, node, extensions={"code": code, **extensions})


def _is_int32(digits: str) -> bool:
    # Decide on the text first: int() of thousands of digits is itself slow (and refused).
    return len(digits) <= 11 and INT32_MIN <= int(digits) <= INT32_MAX


def _amount(value: int) -> str:
    return f"more than {SATURATED:.0e}" if value >= SATURATED else str(value)


def _multiplier(field: FieldNode) -> int:
    for argument in field.arguments or ():
        if argument.name.value == "first":
            if isinstance(argument.value, IntValueNode):
                digits = argument.value.value  # may be thousands of digits: never int() those
                return SATURATED if len(digits) > 15 else min(max(1, int(digits)), SATURATED)
            return DEFAULT_FIRST
    return 1


def extensions_for(settings: GraphQLSettings) -> list[Callable[[], SchemaExtension]]:
    """Extension factories for these settings: fresh instances per request (strawberry sets
    per-request state on them), sharing caches and rule classes built once here, so the
    validation cache can key on a stable rule set."""
    validator = DocumentValidator(settings)
    max_tokens = settings.max_tokens
    return [
        lambda: ParserCache(maxsize=512),
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        lambda: _ValidateWithLimits(validator),
    ]


__all__ = [
    "DEFAULT_FIRST",
    "SATURATED",
    "DocumentMeasurer",
    "DocumentValidator",
    "Measure",
    "RequestBudget",
    "extensions_for",
]
