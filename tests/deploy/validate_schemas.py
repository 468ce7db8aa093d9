"""Schema validation of rendered manifests; runs in the deploy tools environment.

    .venv/deploy-tools/bin/python tests/deploy/validate_schemas.py SCHEMA_DIR VERSION... < objects.json

stdin is a JSON array of Kubernetes objects. Core kinds are validated against Kubernetes'
own schemas for each VERSION (PyPI ``kubernetes-validate``, strict: unknown fields fail);
custom resources against the hand-written schemas in SCHEMA_DIR (``<kind>-<group>-<version>.yaml``).
stdout is a JSON array of ``{"kind", "name", "checked_against", "errors"}``.

This file imports packages that only the tools environment has, so the project's own
test run never imports it: ``test_manifests.py`` starts it as a subprocess.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-not-found, import-untyped, unused-ignore]
import kubernetes_validate  # type: ignore[import-not-found, import-untyped, unused-ignore]
import kubernetes_validate.utils  # type: ignore[import-not-found, import-untyped, unused-ignore]
import yaml

#: API groups of the custom resources we use (as in tools.py); everything else must be a core kind.
CUSTOM_GROUPS = frozenset({"argoproj.io", "gateway.networking.k8s.io", "monitoring.coreos.com"})

# Every call re-reads the multi-megabyte definitions file otherwise.
kubernetes_validate.utils.schema_contents = functools.lru_cache(maxsize=None)(kubernetes_validate.utils.schema_contents)


def custom_schema_path(schema_dir: Path, obj: dict[str, Any]) -> Path:
    group, _, version = obj["apiVersion"].rpartition("/")
    return schema_dir / f"{obj['kind'].lower()}-{group}-{version}.yaml"


def validate(obj: dict[str, Any], schema_dir: Path, versions: list[str]) -> dict[str, Any]:
    name = obj.get("metadata", {}).get("name", "")
    group = obj["apiVersion"].rpartition("/")[0]
    if group in CUSTOM_GROUPS:
        path = custom_schema_path(schema_dir, obj)
        if not path.exists():
            return {"kind": obj["kind"], "name": name, "checked_against": None, "errors": [f"no schema {path.name}"]}
        schema = yaml.safe_load(path.read_text(encoding="utf-8"))
        validator = jsonschema.Draft202012Validator(schema)
        errors = [
            f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
            for error in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
        ]
        return {"kind": obj["kind"], "name": name, "checked_against": path.name, "errors": errors}
    errors = []
    for version in versions:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = "/".join(str(p) for p in exc.path) or "<root>"
            errors.append(f"kubernetes {version}: {where}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"kubernetes {version}: {exc.message}")
    return {"kind": obj["kind"], "name": name, "checked_against": f"kubernetes {', '.join(versions)}", "errors": errors}


def main(argv: list[str]) -> int:
    schema_dir, versions = Path(argv[1]), argv[2:]
    objects = json.load(sys.stdin)
    json.dump([validate(obj, schema_dir, versions) for obj in objects], sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
