"""accounts: user profiles. Holds PII (name, email, phone, birth date, street, postal code)."""

from shared import CallPolicy, UpstreamSpec
from upstreams._local import local_regions
from upstreams.accounts.client import GET_USER, AccountsClient

SPEC = UpstreamSpec(
    name="accounts",
    description="User profiles (PII)",
    operations=(GET_USER,),
    local_regions=local_regions(9101),
    standin_module="upstreams.accounts.standin",
    policy=CallPolicy(connect_timeout=0.25, attempt_timeout=0.6),
)

__all__ = ["GET_USER", "SPEC", "AccountsClient"]
