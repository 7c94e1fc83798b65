#!/usr/bin/env bash
# Helm post-renderer: Helm's rendered manifests on stdin, the production overlay's on stdout.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$here"/kustomization.yaml "$here"/patches "$work"/
cat > "$work/rendered.yaml"
if [ -n "${CGA_IMAGE_DIGEST:-}" ]; then
  # Pin every container to the exact image that was tested.
  cat >> "$work/kustomization.yaml" <<YAML
images:
  - name: ${CGA_IMAGE_REPOSITORY:?CGA_IMAGE_REPOSITORY must name the image}
    digest: ${CGA_IMAGE_DIGEST}
YAML
fi
kubectl kustomize "$work"
