#!/usr/bin/env bash
# Offline validation of deploy/ (what it checks: deploy/README.md, "Validation"):
# render every overlay with kustomize, validate every object against Kubernetes' schemas
# (and ours for the custom resources), check the custom resources with upstream-derived
# models, scan manifests and Dockerfile with checkov, and check that the parts agree.
#
#   scripts/validate-deploy.sh            install the tools if needed, then validate
#   scripts/validate-deploy.sh --install  only install the tools
#
# The tools live in $DEPLOY_CHECKS_TOOLS (default .venv/deploy-tools), pinned by
# tests/deploy/requirements.txt (with hashes) and tests/deploy/package-lock.json, and are
# reinstalled when either changes. Installing needs PyPI and the npm registry, python3 with
# venv, and node ≥ 20 with npm; validating needs no network.
set -euo pipefail
cd "$(dirname "$0")/.."

tools="${DEPLOY_CHECKS_TOOLS:-.venv/deploy-tools}"
python="${PYTHON:-python3}"
stamp="$tools/.installed"
want="$(cat tests/deploy/requirements.txt tests/deploy/package-lock.json | sha256sum | cut -d' ' -f1)"

if [[ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]]; then
    echo "validate-deploy: installing the tools into $tools"
    rm -rf "$tools"
    "$python" -m venv "$tools"
    if [[ -x .venv/bin/uv ]]; then
        .venv/bin/uv pip install --quiet --python "$tools/bin/python" --require-hashes -r tests/deploy/requirements.txt
    else
        "$tools/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes \
            -r tests/deploy/requirements.txt
    fi
    mkdir -p "$tools/node"
    cp tests/deploy/package.json tests/deploy/package-lock.json "$tools/node/"
    npm ci --prefix "$tools/node" --no-audit --no-fund --loglevel=error
    echo "$want" > "$stamp"
fi
[[ "${1:-}" == "--install" ]] && exit 0

# The project's own environment runs the tests (they load the settings models).
[[ -x .venv/bin/pytest ]] || make --no-print-directory .venv/.installed
# A missing tool fails here instead of skipping.
DEPLOY_CHECKS_TOOLS="$tools" DEPLOY_CHECKS_REQUIRE_TOOLS=1 exec .venv/bin/pytest -q tests/deploy
