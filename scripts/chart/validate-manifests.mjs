// Validates Kubernetes documents against the kubernetes-models schemas: the custom resources
// the chart renders (PrometheusRule, ServiceMonitor, ExternalSecret), and built-in kinds too.
//
//   node validate-manifests.mjs FILE...
//
// A FILE is YAML (one or more documents) or JSON (one document, or an array of documents).
// Prints one line per invalid document and exits 1 if there is any; a document whose
// apiVersion has no model here is an error too, so nothing passes unchecked.
import { readFile } from "node:fs/promises";
import { parseAllDocuments } from "yaml";

// apiVersion group -> package holding its models (`<package>/<group>/<version>`).
const PACKAGES = {
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
  "external-secrets.io": "@kubernetes-models/external-secrets",
};

function modulePath(apiVersion) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const pkg = PACKAGES[group] ?? (group === "" || !group.includes(".") || group.endsWith(".k8s.io") ? "kubernetes-models" : null);
  if (pkg === null) return null;
  return group === "" ? `${pkg}/${version}` : `${pkg}/${group}/${version}`;
}

async function modelFor(apiVersion, kind) {
  const path = modulePath(apiVersion);
  if (path === null) return null;
  try {
    const module = await import(path);
    return module[kind] ?? null;
  } catch (error) {
    if (error.code === "ERR_PACKAGE_PATH_NOT_EXPORTED" || error.code === "ERR_MODULE_NOT_FOUND") return null;
    throw error;
  }
}

async function documentsOf(file) {
  const text = await readFile(file, "utf8");
  if (file.endsWith(".json")) {
    const value = JSON.parse(text);
    return Array.isArray(value) ? value : [value];
  }
  return parseAllDocuments(text)
    .map((document) => {
      if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0].message}`);
      return document.toJS();
    })
    .filter((document) => document !== null && document !== undefined);
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node validate-manifests.mjs FILE...");
  process.exit(2);
}

let problems = 0;
let checked = 0;
for (const file of files) {
  for (const document of await documentsOf(file)) {
    const { apiVersion, kind } = document;
    const where = `${file}: ${kind}/${document.metadata?.name ?? "?"} (${apiVersion})`;
    const Model = await modelFor(apiVersion, kind);
    if (Model === null) {
      console.log(`ERROR ${where}: no model for this apiVersion and kind`);
      problems += 1;
      continue;
    }
    try {
      new Model(document).validate();
      checked += 1;
    } catch (error) {
      console.log(`ERROR ${where}: ${error.message}`);
      problems += 1;
    }
  }
}
console.log(`${checked} documents valid, ${problems} invalid`);
process.exit(problems > 0 ? 1 : 0);
