"""Canary rollouts through a local HAProxy: the gateway driver (``gateway``), cohort
policies (``cohorts``), the user buckets that keep a user on one side (``buckets``), the
per-cohort judgement from /metrics (``analysis``), the run itself (``steps``), the stack
and synthetic users it runs against (``harness``, ``load``) and the Argo Rollouts steps a
policy renders to (``manifests``)."""
