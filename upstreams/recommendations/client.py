"""Operations of the recommendations service and the typed client screens use."""

from __future__ import annotations

from shared import CachePolicy, CallExample, CallPolicy, Deadline, Operation, UpstreamClient
from upstreams.recommendations.models import Recommendation, RecommendationList

GET_RECOMMENDATIONS = Operation(
    upstream="recommendations",
    name="get_recommendations",
    method="GET",
    path="/users/{user_id}/recommendations",
    response=RecommendationList,
    idempotent=True,
    example=CallExample(path_params={"user_id": 7}, params={"limit": 10}),
    policy=CallPolicy(cache=CachePolicy(ttl=300, stale_ttl=3600, scope="user")),
    tags=lambda path, query: [f"recommendations:{path['user_id']}"],
)


class RecommendationsClient:
    def __init__(self, upstream: UpstreamClient) -> None:
        self._upstream = upstream

    async def for_user(self, user_id: int, limit: int, *, deadline: Deadline) -> list[Recommendation]:
        answer = await self._upstream.call(
            GET_RECOMMENDATIONS,
            path_params={"user_id": user_id},
            params={"limit": limit},
            deadline=deadline,
            cache_user=user_id,
        )
        return answer.items
