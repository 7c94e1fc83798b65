#!/usr/bin/env bash
# Helm post-renderer: Helm's rendered manifests on stdin, the production overlay's on stdout.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$here"/kustomization.yaml "$here"/patches "$work"/
cat > "$work/rendered.yaml"
kubectl kustomize "$work"
