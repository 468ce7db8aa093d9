"""recommendations: products recommended for a user. The slowest upstream; every screen
treats it as optional."""

from shared import CallPolicy, UpstreamSpec
from upstreams._local import local_regions
from upstreams.recommendations.client import GET_RECOMMENDATIONS, RecommendationsClient

SPEC = UpstreamSpec(
    name="recommendations",
    description="Products recommended for a user (optional everywhere)",
    operations=(GET_RECOMMENDATIONS,),
    local_regions=local_regions(9141),
    standin_module="upstreams.recommendations.standin",
    policy=CallPolicy(connect_timeout=0.25, attempt_timeout=0.8),
)

__all__ = ["GET_RECOMMENDATIONS", "SPEC", "RecommendationsClient"]
