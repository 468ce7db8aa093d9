// Validates custom resources with upstream-derived models (npm @kubernetes-models/*, generated
// from the Argo Rollouts, Gateway API and prometheus-operator Go types).
//
//   node crd_models.mjs NODE_DIR < objects.json
//
// NODE_DIR holds node_modules (scripts/validate-deploy.sh installs it from package.json and
// package-lock.json beside this file). stdin is a JSON array of objects; stdout is a JSON
// array of {kind, name, error}, error null when the object is valid. Kinds without a model
// are reported with error "no model", so the caller decides what that means.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const PACKAGES = {
  "argoproj.io": "@kubernetes-models/argo-rollouts",
  "gateway.networking.k8s.io": "@kubernetes-models/gateway-api",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
};

const nodeDir = process.argv[2];
const objects = JSON.parse(readFileSync(0, "utf8"));
const results = [];
for (const object of objects) {
  const [group, version] = object.apiVersion.split("/");
  const name = object.metadata?.name ?? "";
  const pkg = PACKAGES[group];
  if (!pkg) {
    results.push({ kind: object.kind, name, error: "no model" });
    continue;
  }
  const file = join(nodeDir, "node_modules", pkg, group, version, `${object.kind}.js`);
  let Model;
  try {
    Model = (await import(pathToFileURL(file).href))[object.kind];
  } catch {
    results.push({ kind: object.kind, name, error: "no model" });
    continue;
  }
  try {
    new Model(object).validate();
    results.push({ kind: object.kind, name, error: null });
  } catch (error) {
    results.push({ kind: object.kind, name, error: String(error.message ?? error) });
  }
}
process.stdout.write(JSON.stringify(results));
