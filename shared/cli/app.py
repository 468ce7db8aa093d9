"""The ``bff`` command line.

::

    bff stack                         run the local stack: stand-ins + every BFF process
    bff serve mobile [--config F]     serve one process
    bff standins                      serve every upstream stand-in, both regions
    bff config check F [--process P]  validate a config file without starting anything
    bff upstreams                     list registered upstreams and their operations
    bff rollout mobile --stable-config A --canary-config B [--steps ...] [--load-users N]
                                      a cohort canary through a local HAProxy
    bff canary-steps POLICY --process P   the policy's Argo Rollouts steps (deploy/k8s)
    bff openapi mobile                print a process's OpenAPI document
    bff pii report                    every PII field: source, storage, where it is shown
    bff pii scan --redis URL --log F  personal data in clear in Redis and logs (exit 1 if any)

Processes are found through the ``bff.processes`` entry-point group, so this module
stays generic.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson

from shared.errors import ConfigError
from shared.operations import UpstreamSpec
from shared.process import ProcessSpec, discover_processes
from shared.settings import ProcessSettings, load_settings
from shared.upstream_set import check_upstream_config, effective_policies, resolve_regions

EXIT_CONFIG = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except ConfigError as exc:
        print(f"bff: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bff", description="Backend-for-frontend processes and tools")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    processes = sorted(discover_processes())

    serve = commands.add_parser("serve", help="serve one BFF process")
    serve.add_argument("process", choices=processes)
    serve.add_argument("--config", type=Path, help="YAML config (default: $BFF_CONFIG, else the bundled one)")
    serve.set_defaults(run=_serve)

    stack = commands.add_parser("stack", help="run the local stack: stand-ins and every BFF process")
    stack.set_defaults(run=_stack)

    standins = commands.add_parser("standins", help="serve every upstream stand-in in both regions")
    standins.add_argument("--host", default="127.0.0.1")
    standins.set_defaults(run=_standins)

    config = commands.add_parser("config", help="configuration tools")
    config_commands = config.add_subparsers(required=True, metavar="ACTION")
    check = config_commands.add_parser("check", help="validate a config file; exit 2 naming each bad key")
    check.add_argument("file", type=Path)
    check.add_argument("--process", choices=processes, default=processes[0] if processes else None)
    check.set_defaults(run=_config_check)

    upstreams = commands.add_parser("upstreams", help="list registered upstreams")
    upstreams.set_defaults(run=_upstreams)

    rollout = commands.add_parser(
        "rollout",
        help="canary a new config/version against the current one by client cohort, behind a local HAProxy; "
        "exit 0 promoted, 3 rolled back, 4 held, 5 refused by the contract check",
    )
    rollout.add_argument("process", choices=processes)
    rollout.add_argument("--stable-config", type=Path, required=True, help="config of the version running now")
    rollout.add_argument("--canary-config", type=Path, required=True, help="config of the version to roll out")
    rollout.add_argument("--stable-version", help="name of the running version (default: its config's file name)")
    rollout.add_argument("--canary-version", help="name of the new version (default: its config's file name)")
    rollout.add_argument("--port", type=int, default=8000, help="public port of the gateway")
    rollout.add_argument(
        "--policy", type=Path, help="a YAML rollout policy (keys of shared/cli/rollout/cohorts.py RolloutPolicy)"
    )
    rollout.add_argument(
        "--steps",
        help="cohort steps, e.g. 'android >=4.2: 5; mobile: 25; all: 50; all: 100' (or '5,25,50,100' for all)",
    )
    rollout.add_argument("--poll-seconds", type=float, help="how often /metrics is read during a step")
    rollout.add_argument("--min-requests", type=int, help="canary requests of a step's cohort needed for a verdict")
    rollout.add_argument("--max-wait-seconds", type=float, help="a step below its floor this long: --on-no-data")
    rollout.add_argument("--on-no-data", choices=["abort", "hold"], help="what a step without enough traffic gets")
    rollout.add_argument("--salt", help="salt of the user buckets (default: random per rollout)")
    rollout.add_argument(
        "--load-users",
        type=int,
        default=0,
        help="synthetic app users (mixed platforms and versions) calling through the gateway meanwhile",
    )
    rollout.set_defaults(run=_rollout)

    steps = commands.add_parser(
        "canary-steps", help="print the Argo Rollouts canary steps of a rollout policy file (deploy/k8s/*/rollout.yaml)"
    )
    steps.add_argument("policy", type=Path, help="a YAML rollout policy, e.g. deploy/k8s/mobile/rollout-policy.yaml")
    steps.add_argument("--process", choices=processes, required=True)
    steps.add_argument("--max-p99-seconds", default="0.5", help="the analysis' p99 bound")
    steps.set_defaults(run=_canary_steps)

    pii = commands.add_parser("pii", help="personal data tools")
    pii_commands = pii.add_subparsers(required=True, metavar="ACTION")
    report = pii_commands.add_parser("report", help="every PII field: source, storage, where it is shown")
    report.set_defaults(run=_pii_report)
    scan = pii_commands.add_parser(
        "scan", help="find personal data in clear in Redis and log files; exit 1 naming each finding"
    )
    scan.add_argument("--redis", action="append", default=[], metavar="URL", help="a node, or a Cluster (repeatable)")
    scan.add_argument("--log", action="append", default=[], type=Path, metavar="PATH", help="a log file (repeatable)")
    scan.add_argument("--match", default="*", help="only Redis keys matching this SCAN pattern (e.g. 'bff:*')")
    scan.set_defaults(run=_pii_scan)

    openapi = commands.add_parser("openapi", help="print a process's OpenAPI document")
    openapi.add_argument("process", choices=processes)
    openapi.set_defaults(run=_openapi)
    return parser


def _process(name: str) -> ProcessSpec:
    return discover_processes()[name]


def config_path(spec: ProcessSpec, config: Path | None) -> Path | None:
    """--config, else $BFF_CONFIG, else the process's bundled file."""
    return config or (Path(os.environ["BFF_CONFIG"]) if os.environ.get("BFF_CONFIG") else spec.default_config)


def load_process_settings(spec: ProcessSpec, config: Path | None) -> ProcessSettings:
    """Settings for ``spec`` from its config file (see ``config_path``) and the environment."""
    path = config_path(spec, config)
    settings = load_settings(spec.settings_model, path, os.environ)
    check_upstream_config(settings, spec.upstreams())
    return settings


def _serve(args: argparse.Namespace) -> int:
    from shared.serving import serve
    from shared.telemetry.logs import configure_logging

    spec = _process(args.process)
    path = config_path(spec, args.config)
    settings = load_process_settings(spec, args.config)
    telemetry = settings.telemetry
    configure_logging(
        settings.log_level, json_lines=telemetry.log_format == "json", flush_seconds=telemetry.log_flush_seconds
    )
    return serve(spec.create_app(settings, path), settings)


def _standins(args: argparse.Namespace) -> int:
    from shared.cli.servers import serve_apps

    apps, ports = {}, {}
    for upstream in _all_upstreams():
        regions = dict(upstream.local_regions)
        for region, app in upstream.create_standins(list(regions)).items():
            key = f"{upstream.name}@{region}"
            apps[key] = app
            ports[key] = int(regions[region].rsplit(":", 1)[1])
    for key in apps:
        print(f"stand-in {key:<32} http://{args.host}:{ports[key]}", flush=True)
    try:
        asyncio.run(serve_apps(apps, args.host, ports))
    except OSError as exc:  # a port in use: say which, without a traceback
        print(f"bff standins: {exc.strerror or exc}; is another stack (or benchmark) running?", file=sys.stderr)
        return 1
    return 0


def _stack(args: argparse.Namespace) -> int:
    from shared.cli.localstack import run_stack

    return run_stack(discover_processes())


def _config_check(args: argparse.Namespace) -> int:
    spec = _process(args.process)
    settings = load_settings(spec.settings_model, args.file, os.environ)
    check_upstream_config(settings, spec.upstreams())
    print(f"{args.file}: valid configuration for {spec.name}")
    return 0


def _upstreams(args: argparse.Namespace) -> int:
    for upstream in _all_upstreams():
        regions = ", ".join(f"{r.name}={r.base_url}" for r in resolve_regions(upstream, None))
        print(f"{upstream.name}: {upstream.description}")
        print(f"  regions (local default): {regions}")
        policies = effective_policies(upstream, None)
        for op in upstream.operations:
            policy = policies[op.name]
            pii = f"  PII: {', '.join(op.pii_fields)}" if op.pii_fields else ""
            print(
                f"  {op.name:<22} {op.method:<5} {op.path:<36} idempotent={str(op.idempotent).lower():<5} "
                f"attempt_timeout={policy.attempt_timeout}s{pii}"
            )
    return 0


def _rollout(args: argparse.Namespace) -> int:
    import yaml
    from pydantic import ValidationError

    from shared.cli.rollout.cohorts import RolloutPolicy, parse_steps
    from shared.cli.rollout.harness import run_rollout_harness

    data: dict[str, object] = {}
    if args.policy is not None:
        data = yaml.safe_load(args.policy.read_text()) or {}
    overrides = {
        "poll_seconds": args.poll_seconds,
        "min_requests": args.min_requests,
        "max_wait_seconds": args.max_wait_seconds,
        "on_no_data": args.on_no_data,
    }
    data |= {key: value for key, value in overrides.items() if value is not None}
    try:
        if args.steps:
            data["steps"] = parse_steps(args.steps)
        policy = RolloutPolicy.model_validate(data)
    except (ValueError, ValidationError) as exc:
        print(f"bff rollout: invalid policy: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    stable_version = args.stable_version or args.stable_config.stem
    canary_version = args.canary_version or args.canary_config.stem
    if canary_version == stable_version:
        canary_version += "-canary"
    return run_rollout_harness(
        args.process,
        args.stable_config,
        args.canary_config,
        args.port,
        policy,
        load_users=args.load_users,
        stable_version=stable_version,
        canary_version=canary_version,
        salt=args.salt,
    )


def _canary_steps(args: argparse.Namespace) -> int:
    import yaml

    from shared.cli.rollout.cohorts import RolloutPolicy
    from shared.cli.rollout.manifests import argo_steps, managed_routes

    try:
        policy = RolloutPolicy.model_validate(yaml.safe_load(args.policy.read_text()) or {})
        steps = argo_steps(policy, args.process, args.max_p99_seconds)
    except ValueError as exc:  # pydantic's ValidationError is one
        print(f"bff canary-steps: {args.policy}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    sys.stdout.write(yaml.safe_dump({"managedRoutes": managed_routes(policy), "steps": steps}, sort_keys=False))
    return 0


def _pii_report(args: argparse.Namespace) -> int:
    from shared.cli.pii_report import inventory, render

    processes = discover_processes()
    exposures = {name: spec.pii_exposures() for name, spec in processes.items()}
    sys.stdout.write(render(inventory(_all_upstreams(), exposures)))
    return 0


def _pii_scan(args: argparse.Namespace) -> int:
    from shared.pii_scan import run_scan

    if not args.redis and not args.log:
        print("bff pii scan: nothing to scan; give --redis URL and/or --log PATH", file=sys.stderr)
        return EXIT_CONFIG
    return run_scan(_all_upstreams(), args.redis, args.log, match=args.match, out=sys.stdout, err=sys.stderr)


def _openapi(args: argparse.Namespace) -> int:
    document = _process(args.process).openapi()
    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n")
    return 0


def _all_upstreams() -> list[UpstreamSpec]:
    seen: dict[str, UpstreamSpec] = {}
    for spec in discover_processes().values():
        for upstream in spec.upstreams():
            seen.setdefault(upstream.name, upstream)
    return list(seen.values())
