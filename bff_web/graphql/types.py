"""The GraphQL types. Scalar fields are plain attributes (no resolver, no await); only
fields that need another upstream have resolvers, and those go through the loaders."""

from __future__ import annotations

from datetime import date, datetime

import strawberry
from strawberry.types import Info

from bff_web.graphql.context import GraphQLContext
from bff_web.schemas import Profile as ProfileBody
from shared import BadRequest
from shared.cursor import decode_cursor, encode_cursor
from shared.inputs import PATH_INT_MAX
from shared.money import Money as MoneyBody
from upstreams.catalog.models import Product as ProductRecord
from upstreams.orders.models import OrderSummary

Ctx = Info[GraphQLContext, None]
MAX_PAGE = 50


def page_size(first: int, name: str = "first") -> int:
    if not 1 <= first <= MAX_PAGE:
        raise BadRequest(f"'{name}' must be between 1 and {MAX_PAGE}, got {first}", field=name)
    return first


@strawberry.type
class Money:
    amount: str
    currency: str

    @classmethod
    def of(cls, cents: int, currency: str) -> Money:
        body = MoneyBody.of(cents, currency)
        return cls(amount=body.amount, currency=body.currency)


@strawberry.type
class Stock:
    region: str
    available: int
    in_stock: bool


@strawberry.type
class Product:
    id: strawberry.ID
    name: str
    description: str
    brand: str
    category: str
    price: Money
    image_url: str
    rating: float

    @classmethod
    def of(cls, record: ProductRecord) -> Product:
        return cls(
            id=strawberry.ID(str(record.id)),
            name=record.name,
            description=record.description,
            brand=record.brand,
            category=record.category,
            price=Money.of(record.price_cents, record.currency),
            image_url=record.image_url,
            rating=record.rating,
        )

    @strawberry.field(description="Stock in a region (default: the process's default stock region).")
    async def stock(self, info: Ctx, region: str | None = None) -> Stock | None:
        context = info.context
        chosen = region or context.deps.settings.default_stock_region
        if chosen not in ("eu", "us", "apac"):
            raise BadRequest(f"'region' must be one of eu, us, apac, got {chosen!r}", field="region")
        units = await context.loaders.stock.load((int(self.id), chosen))
        return None if units is None else Stock(region=chosen, available=units, in_stock=units > 0)

    @strawberry.field(description="Products related to this one (same category).")
    async def related(self, info: Ctx, first: int = 5) -> list[Product]:
        context = info.context
        records = await context.deps.catalog.related(int(self.id), page_size(first), deadline=context.deadline)
        for record in records:
            context.loaders.product.prime(record.id, record)
        return [Product.of(record) for record in records]


@strawberry.type
class ProductConnection:
    items: list[Product]
    total: int
    next_cursor: str | None


@strawberry.type
class OrderItem:
    quantity: int
    unit_price: Money
    product_id: strawberry.Private[int]

    @strawberry.field
    async def product(self, info: Ctx) -> Product | None:
        record = await info.context.loaders.product.load(self.product_id)
        return None if record is None else Product.of(record)


@strawberry.type
class Order:
    id: strawberry.ID
    status: str
    placed_at: datetime
    total: Money
    item_count: int

    @classmethod
    def of(cls, summary: OrderSummary) -> Order:
        return cls(
            id=strawberry.ID(summary.id),
            status=summary.status,
            placed_at=summary.placed_at,
            total=Money.of(summary.total_cents, summary.currency),
            item_count=summary.item_count,
        )

    @strawberry.field(description="The order's lines, each with its product.")
    async def items(self, info: Ctx) -> list[OrderItem]:
        detail = await info.context.loaders.order.load(str(self.id))
        if detail is None:
            return []
        return [
            OrderItem(
                quantity=line.quantity,
                unit_price=Money.of(line.unit_price_cents, detail.currency),
                product_id=line.product_id,
            )
            for line in detail.items
        ]


@strawberry.type
class OrderConnection:
    items: list[Order]
    next_cursor: str | None


@strawberry.type
class Recommendation:
    score: float
    product_id: strawberry.Private[int]

    @strawberry.field
    async def product(self, info: Ctx) -> Product | None:
        record = await info.context.loaders.product.load(self.product_id)
        return None if record is None else Product.of(record)


@strawberry.type
class Address:
    street: str
    postal_code: str
    city: str
    country: str


@strawberry.type(description="The caller's profile; personal data masked for display.")
class Profile:
    id: strawberry.ID
    name: str
    email: str
    phone: str
    address: Address
    home_region: str
    member_since: date

    @classmethod
    def of(cls, body: ProfileBody) -> Profile:
        return cls(
            id=strawberry.ID(str(body.id)),
            name=body.name,
            email=body.email,
            phone=body.phone,
            address=Address(**body.address.model_dump()),
            home_region=body.home_region,
            member_since=body.member_since,
        )


@strawberry.type(description="The calling user's dashboard.")
class Viewer:
    user_id: strawberry.Private[int]

    @strawberry.field
    async def profile(self, info: Ctx) -> Profile | None:
        from bff_web.screens.profile import profile

        context = info.context
        return Profile.of(await profile(context.deps, self.user_id, context.deadline))

    @strawberry.field(description="The viewer's orders, newest first.")
    async def orders(self, info: Ctx, first: int = 10, after: str | None = None) -> OrderConnection | None:
        context = info.context
        position = decode_cursor(after, field="after") if after else None
        page = await context.deps.orders.page(self.user_id, page_size(first), position, deadline=context.deadline)
        return OrderConnection(
            items=[Order.of(summary) for summary in page.items],
            next_cursor=encode_cursor(page.next_cursor) if page.next_cursor else None,
        )

    @strawberry.field(description="Products recommended for the viewer; null when unavailable.")
    async def recommendations(self, info: Ctx, first: int = 10) -> list[Recommendation] | None:
        context = info.context
        picks = await context.deps.recommendations.for_user(self.user_id, page_size(first), deadline=context.deadline)
        return [Recommendation(score=pick.score, product_id=pick.product_id) for pick in picks]


@strawberry.type
class Query:
    @strawberry.field(description="The calling user (needs X-User-Id).")
    def viewer(self, info: Ctx) -> Viewer:
        return Viewer(user_id=info.context.viewer_id())

    @strawberry.field
    async def product(self, info: Ctx, id: strawberry.ID) -> Product | None:
        text = str(id)
        if not (text.isascii() and text.isdigit() and 1 <= int(text[:16]) <= PATH_INT_MAX and len(text) <= 16):
            raise BadRequest(f"'id' must be a product id from 1 to {PATH_INT_MAX}, got {text[:40]!r}", field="id")
        record = await info.context.loaders.product.load(int(text))
        return None if record is None else Product.of(record)

    @strawberry.field(description="Products matching a text, paged by an opaque cursor.")
    async def search(self, info: Ctx, query: str, first: int = 20, after: str | None = None) -> ProductConnection:
        context = info.context
        if not 1 <= len(query) <= 100:
            raise BadRequest("'query' must be 1 to 100 characters", field="query")
        offset = _offset(after)
        result = await context.deps.catalog.search(query, page_size(first), offset, deadline=context.deadline)
        for record in result.items:
            context.loaders.product.prime(record.id, record)
        end = offset + len(result.items)
        return ProductConnection(
            items=[Product.of(record) for record in result.items],
            total=result.total,
            next_cursor=encode_cursor(str(end)) if end < result.total else None,
        )


def _offset(after: str | None) -> int:
    if not after:
        return 0
    position = decode_cursor(after, field="after")
    if not (position.isascii() and position.isdigit() and len(position) <= 9):
        raise BadRequest("'after' is not a cursor this API issued; pass back next_cursor unchanged", field="after")
    return int(position)
