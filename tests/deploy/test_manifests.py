"""The Kubernetes manifests: every overlay renders, validates offline, passes the scan, and
its parts agree with each other and with the process (drain timings, ports, probes).

Run them all with ``scripts/validate-deploy.sh``; see tests/deploy/tools.py for the tools.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.cli.rollout.cohorts import RolloutPolicy
from shared.cli.rollout.manifests import argo_steps, managed_routes, platform_regex, version_regex
from shared.process import discover_processes
from tests.deploy.tools import (
    CUSTOM_GROUPS,
    DOCKERFILE,
    HERE,
    K8S,
    KUBERNETES_VERSIONS,
    OVERLAYS,
    Obj,
    config_file,
    container,
    node_models,
    one,
    pod_spec,
    render,
    require,
    run_json,
    tools_python,
)

overlays = pytest.mark.parametrize(("process", "region"), OVERLAYS, ids=[f"{p}-{r}" for p, r in OVERLAYS])

#: checkov findings we justify instead of fixing; each skip carries its reason in place
#: (a checkov.io/skipN annotation or a #checkov:skip comment). A new one must be added here.
JUSTIFIED_SKIPS = {
    "CKV_K8S_15": "IfNotPresent with immutable, digest-pinned images",
    "CKV_K8S_35": "secrets reach the process as environment variables by design",
    "CKV_K8S_43": "the release pipeline pins the digest",
    "CKV_DOCKER_2": "Kubernetes probes replace HEALTHCHECK",
}
#: Defaults of server.drain_seconds and server.shutdown_grace_seconds (DESIGN.md, issue 8),
#: used only while the settings model does not declare them yet.
LIFECYCLE_DEFAULTS = {"drain_seconds": 10.0, "shutdown_grace_seconds": 20.0}
#: What terminationGracePeriodSeconds keeps beyond preStop + drain + grace: closing pools, exit.
SHUTDOWN_MARGIN_SECONDS = 5


def every_object() -> list[Obj]:
    return [obj for process, region in OVERLAYS for obj in render(process, region)]


# ---- the tools: render, schemas, upstream models, scan ---------------------------------


@overlays
def test_overlay_renders_every_object_into_its_own_namespace(process: str, region: str) -> None:
    objects = render(process, region)
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == sorted(
        [
            "AnalysisTemplate",
            "ConfigMap",
            "Deployment",
            "HTTPRoute",
            "HorizontalPodAutoscaler",
            "Namespace",
            "NetworkPolicy",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "PodMonitor",
            "Rollout",
            "Service",
            "Service",
            "ServiceAccount",
        ]
    )
    namespace = f"bff-{process}"
    assert one(objects, "Namespace")["metadata"]["name"] == namespace
    assert {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"} == {namespace}


def test_every_object_validates_against_its_schema() -> None:
    python = tools_python()
    require(python is not None, "kubernetes-validate (deploy tools venv)")
    assert python is not None
    script = HERE / "validate_schemas.py"
    reports = run_json([str(python), str(script), str(K8S / "schemas"), *KUBERNETES_VERSIONS], every_object())
    unchecked = [f"{r['kind']}/{r['name']}" for r in reports if not r["checked_against"]]
    invalid = {f"{r['kind']}/{r['name']} ({r['checked_against']})": r["errors"] for r in reports if r["errors"]}
    assert not unchecked, f"no schema for {unchecked}"
    assert not invalid, json.dumps(invalid, indent=2)


def test_custom_resources_validate_against_the_upstream_models() -> None:
    node_dir = node_models()
    require(node_dir is not None, "node with @kubernetes-models/* (deploy tools)")
    custom = [o for o in every_object() if o["apiVersion"].split("/")[0] in CUSTOM_GROUPS]
    assert {o["kind"] for o in custom} == {"Rollout", "AnalysisTemplate", "HTTPRoute", "PodMonitor"}
    results = run_json(["node", str(HERE / "crd_models.mjs"), str(node_dir)], custom)
    errors = [f"{r['kind']}/{r['name']}: {r['error']}" for r in results if r["error"] is not None]
    assert not errors, "\n".join(errors)


@pytest.mark.slow
def test_checkov_finds_nothing_but_justified_skips(tmp_path: Path) -> None:
    python = tools_python()
    require(python is not None, "checkov (deploy tools venv)")
    assert python is not None
    files = []
    for process, region in OVERLAYS:
        rendered = tmp_path / f"{process}-{region}.yaml"
        rendered.write_text("\n---\n".join(json.dumps(obj) for obj in render(process, region)))
        files += ["-f", str(rendered)]
    command = [str(python.parent / "checkov"), *files, "-f", str(DOCKERFILE)]
    command += ["--framework", "kubernetes", "dockerfile", "--skip-download", "--soft-fail", "-o", "json"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    reports: Any = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    assert {r["check_type"] for r in reports} == {"kubernetes", "dockerfile"}, "checkov scanned nothing"
    failed = [
        f"{c['check_id']} {c['resource']}: {c['check_name']}" for r in reports for c in r["results"]["failed_checks"]
    ]
    assert not failed, "\n".join(failed)
    skipped = {
        c["check_id"]: c["check_result"].get("suppress_comment", "")
        for r in reports
        for c in r["results"]["skipped_checks"]
    }
    assert set(skipped) <= set(JUSTIFIED_SKIPS), f"unexpected skips: {set(skipped) - set(JUSTIFIED_SKIPS)}"
    assert all(reason.strip() for reason in skipped.values()), f"a skip without a reason: {skipped}"


# ---- the pod: shutdown, probes, security, placement -------------------------------------


def effective_server_seconds(objects: tuple[Obj, ...], process: str, key: str) -> float:
    """server.<key> as the process will see it: env, else the file, else the model's default."""
    env = {e["name"]: e.get("value") for e in container(objects).get("env", [])}
    if (value := env.get(f"BFF_SERVER__{key.upper()}")) is not None:
        return float(value)
    if key in config_file(objects).get("server", {}):
        return float(config_file(objects)["server"][key])
    server_default = discover_processes()[process].settings_model.model_fields["server"].default
    return float(getattr(server_default, key, LIFECYCLE_DEFAULTS[key]))


@overlays
def test_termination_grace_covers_prestop_drain_and_shutdown_grace(process: str, region: str) -> None:
    objects = render(process, region)
    prestop = container(objects)["lifecycle"]["preStop"]["sleep"]["seconds"]
    drain = effective_server_seconds(objects, process, "drain_seconds")
    grace = effective_server_seconds(objects, process, "shutdown_grace_seconds")
    needed = prestop + drain + grace + SHUTDOWN_MARGIN_SECONDS
    assert pod_spec(objects)["terminationGracePeriodSeconds"] >= needed, (
        f"preStop {prestop} + drain {drain} + grace {grace} + margin {SHUTDOWN_MARGIN_SECONDS} = {needed} s"
    )


@overlays
def test_probes_use_readyz_for_readiness_and_livez_for_liveness(process: str, region: str) -> None:
    bff = container(render(process, region))
    assert bff["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert bff["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert bff["startupProbe"]["httpGet"] == {"path": "/livez", "port": "http"}


@overlays
def test_every_container_runs_non_root_on_a_read_only_root(process: str, region: str) -> None:
    pod = pod_spec(render(process, region))
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for each in pod["containers"] + pod.get("initContainers", []):
        security = {**pod["securityContext"], **each["securityContext"]}
        assert security["runAsNonRoot"] is True, each["name"]
        assert security["runAsUser"] > 0, each["name"]
        assert security["readOnlyRootFilesystem"] is True, each["name"]
        assert security["allowPrivilegeEscalation"] is False, each["name"]
        assert security["capabilities"]["drop"] == ["ALL"], each["name"]
        assert "add" not in security["capabilities"], each["name"]
        assert {m["mountPath"] for m in each["volumeMounts"]} >= {"/tmp"}, "writable /tmp on an emptyDir"
        assert each["resources"]["requests"] and each["resources"]["limits"], each["name"]


@overlays
def test_service_links_are_off_since_every_bff_variable_is_a_config_key(process: str, region: str) -> None:
    assert pod_spec(render(process, region))["enableServiceLinks"] is False


@overlays
def test_pods_spread_across_zones_and_hosts(process: str, region: str) -> None:
    constraints = {c["topologyKey"]: c for c in pod_spec(render(process, region))["topologySpreadConstraints"]}
    assert constraints["topology.kubernetes.io/zone"]["whenUnsatisfiable"] == "DoNotSchedule"
    assert "kubernetes.io/hostname" in constraints
    for constraint in constraints.values():
        assert constraint["labelSelector"]["matchLabels"] == {"app.kubernetes.io/name": f"bff-{process}"}


@overlays
def test_ports_agree_from_process_to_gateway(process: str, region: str) -> None:
    objects = render(process, region)
    bff = container(objects)
    port, admin_port = {"mobile": (8080, 9080), "web": (8081, 9081)}[process]
    assert bff["args"] == [process]
    assert bff["ports"] == [
        {"name": "http", "containerPort": port, "protocol": "TCP"},
        {"name": "admin", "containerPort": admin_port, "protocol": "TCP"},
    ]
    env = {e["name"]: e.get("value") for e in bff["env"]}
    assert env["BFF_SERVER__PORT"] == str(port)
    assert env["BFF_ADMIN__PORT"] == str(admin_port)
    for service in (o for o in objects if o["kind"] == "Service"):
        assert service["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}]
    route = one(objects, "HTTPRoute")
    assert {ref["port"] for rule in route["spec"]["rules"] for ref in rule["backendRefs"]} == {port}


@overlays
def test_the_admin_listener_is_on_loopback_and_reached_by_nothing_but_port_forward(process: str, region: str) -> None:
    objects = render(process, region)
    env = {e["name"]: e.get("value") for e in container(objects)["env"]}
    assert env["BFF_ADMIN__HOST"] == "127.0.0.1"
    admin = {"admin", env["BFF_ADMIN__PORT"], int(env["BFF_ADMIN__PORT"])}
    for service in (o for o in objects if o["kind"] == "Service"):
        for service_port in service["spec"]["ports"]:
            assert not {service_port["port"], service_port["targetPort"]} & admin, service["metadata"]["name"]
    route = one(objects, "HTTPRoute")
    assert not {ref["port"] for rule in route["spec"]["rules"] for ref in rule["backendRefs"]} & admin
    policy = one(objects, "NetworkPolicy", f"bff-{process}")["spec"]
    assert {port["port"] for rule in policy["ingress"] for port in rule["ports"]} == {"http"}
    for endpoint in one(objects, "PodMonitor")["spec"]["podMetricsEndpoints"]:
        assert endpoint["port"] == "http", "Prometheus scrapes the public port, which the policy admits"


# ---- availability and rollout ------------------------------------------------------------


@overlays
def test_pdb_and_hpa_cover_the_process(process: str, region: str) -> None:
    objects = render(process, region)
    labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    pdb = one(objects, "PodDisruptionBudget")["spec"]
    assert pdb["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["maxUnavailable"] == 1
    hpa = one(objects, "HorizontalPodAutoscaler")["spec"]
    rollout = one(objects, "Rollout")
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "name": rollout["metadata"]["name"],
    }
    assert hpa["minReplicas"] >= 3, "one pod per zone at least"
    assert "replicas" not in rollout["spec"], "the HPA owns replicas; a value would be reset by every apply"
    assert one(objects, "Deployment")["spec"]["replicas"] == 0, "the template Deployment never runs pods"


@overlays
def test_httproute_weights_sum_to_100_stable_first(process: str, region: str) -> None:
    objects = render(process, region)
    canary = one(objects, "Rollout")["spec"]["strategy"]["canary"]
    route = one(objects, "HTTPRoute")
    (rule,) = route["spec"]["rules"]
    weights = {ref["name"]: ref["weight"] for ref in rule["backendRefs"]}
    assert weights == {canary["stableService"]: 100, canary["canaryService"]: 0}
    plugin = canary["trafficRouting"]["plugins"]["argoproj-labs/gatewayAPI"]
    assert plugin == {"httpRoute": route["metadata"]["name"], "namespace": route["metadata"]["namespace"]}
    paths = {m["path"]["value"] for m in rule["matches"]}
    assert not {"/admin", "/metrics", "/readyz", "/livez"} & paths, "only client paths go through the gateway"


def rollout_policy(process: str) -> RolloutPolicy:
    return RolloutPolicy.model_validate(yaml.safe_load((K8S / process / "rollout-policy.yaml").read_text()))


@overlays
def test_rollout_steps_are_the_cohort_policy_rendered_with_analysis_after_each_partial_step(
    process: str, region: str
) -> None:
    objects = render(process, region)
    canary = one(objects, "Rollout")["spec"]["strategy"]["canary"]
    steps = canary["steps"]
    policy = rollout_policy(process)
    max_p99 = {"mobile": "0.5", "web": "0.75"}[process]
    assert steps == argo_steps(policy, process, max_p99), f"re-render: bff canary-steps ... --process {process}"
    assert canary["trafficRouting"].get("managedRoutes", []) == managed_routes(policy)
    actions = [next(iter(step)) for step in steps]
    assert actions[-1] == "setWeight" and steps[-1]["setWeight"] == 100
    assert actions[1::2] == ["analysis"] * (len(policy.steps) - 1), "an analysis after every partial step"
    template = one(objects, "AnalysisTemplate")
    required = {a["name"] for a in template["spec"]["args"] if "value" not in a}
    for step, analysis in zip(policy.steps, (s["analysis"] for s in steps if "analysis" in s), strict=False):
        assert [t["templateName"] for t in analysis["templates"]] == [template["metadata"]["name"]]
        given = {a["name"]: a for a in analysis["args"]}
        assert required <= set(given), f"missing analysis args {required - set(given)}"
        assert given["process"]["value"] == f"bff_{process}"  # the metrics label
        assert given["canary-hash"]["valueFrom"] == {"podTemplateHashValue": "Latest"}
        assert given["stable-hash"]["valueFrom"] == {"podTemplateHashValue": "Stable"}
        assert (given["platforms"]["value"], given["versions"]["value"]) == (
            platform_regex(step.cohort),
            version_regex(step.cohort),
        ), f"step `{step}` is judged for its own cohort"


def test_the_mobile_canary_starts_with_a_cohort_routed_by_the_client_headers() -> None:
    steps = one(render("mobile", "eu-west-1"), "Rollout")["spec"]["strategy"]["canary"]["steps"]
    route = steps[0]["setHeaderRoute"]
    headers = {m["headerName"]: m["headerValue"] for m in route["match"]}
    assert headers["X-Client-Platform"] == {"exact": "android"}
    version = re.compile(headers["X-App-Version"]["regex"])
    assert [bool(version.search(v)) for v in ["4.3.0", "4.10.2-beta.1", "5.0", "4.2.9", "3.9.0", "4.x"]] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]


def test_a_cohort_step_with_a_weight_inside_it_is_refused_for_argo_rollouts() -> None:
    policy = RolloutPolicy.model_validate({"steps": ["android >=4.2: 5%", "all: 100%"]})
    with pytest.raises(ValueError, match="cannot weight inside a header route"):
        argo_steps(policy, "mobile", "0.5")


def test_analysis_is_inconclusive_below_the_request_floor() -> None:
    template = one(render(*OVERLAYS[0]), "AnalysisTemplate")
    metrics = {m["name"]: m for m in template["spec"]["metrics"]}
    assert set(metrics) == {"error-ratio", "error-increase-vs-stable", "p99-latency"}
    assert "bff_http_request_duration_seconds_bucket" in metrics["p99-latency"]["provider"]["prometheus"]["query"]
    for metric in metrics.values():
        query = metric["provider"]["prometheus"]["query"]
        assert "bff_http_requests_total" in query
        assert 'rollouts_pod_template_hash="{{args.canary-hash}}"' in query
        assert 'platform=~"{{args.platforms}}", version=~"{{args.versions}}"' in query, "judged per cohort"
        assert query.rstrip().endswith(">= {{args.min-requests}}"), "the floor guards the whole result"
        # An empty result (below the floor) must meet neither condition: inconclusive.
        assert metric["successCondition"].startswith("len(result) > 0 && ")
        assert metric["failureCondition"].startswith("len(result) > 0 && ")
        assert metric["inconclusiveLimit"] >= 1
    assert "or on() vector(0)" in metrics["error-ratio"]["provider"]["prometheus"]["query"]
    assert "by (platform, version)" in metrics["error-ratio"]["provider"]["prometheus"]["query"], "worst cell"
    vs_stable = metrics["error-increase-vs-stable"]["provider"]["prometheus"]["query"]
    assert 'rollouts_pod_template_hash="{{args.stable-hash}}"' in vs_stable


def test_analysis_queries_are_valid_promql(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    require(promtool is not None, "promtool (apt prometheus)")
    assert promtool is not None
    template = one(render(*OVERLAYS[0]), "AnalysisTemplate")
    values = {a["name"]: a.get("value", "x") for a in template["spec"]["args"]}
    values |= {"min-requests": "200", "min-cell-requests": "50", "window": "5m", "baseline-window": "1h"}
    rules = []
    for metric in template["spec"]["metrics"]:
        query = re.sub(
            r"\{\{args\.([a-z-]+)\}\}", lambda m: values[m.group(1)], metric["provider"]["prometheus"]["query"]
        )
        rules.append({"record": f"bff:{metric['name'].replace('-', '_')}", "expr": query})
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "analysis", "rules": rules}]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# ---- network ---------------------------------------------------------------------------


@overlays
def test_network_policy_admits_only_the_gateway_and_prometheus(process: str, region: str) -> None:
    objects = render(process, region)
    deny = one(objects, "NetworkPolicy", "default-deny")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    policy = one(objects, "NetworkPolicy", f"bff-{process}")["spec"]
    sources = [
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for rule in policy["ingress"]
        for peer in rule["from"]
    ]
    assert sources == ["gateway-system", "monitoring"]
    egress_ports = {(p["port"], p["protocol"]) for rule in policy["egress"] for p in rule["ports"]}
    sentinels = {(26379, "TCP")} if process == "mobile" else set()  # web's Redis is a Cluster
    assert egress_ports == {(53, "UDP"), (53, "TCP"), (6379, "TCP"), (443, "TCP")} | sentinels


@overlays
def test_no_secret_is_rendered(process: str, region: str) -> None:
    objects = render(process, region)
    assert not [o for o in objects if o["kind"] == "Secret"]
    assert container(objects)["envFrom"] == [{"secretRef": {"name": "bff-secrets"}}]
