{{/*
Names, labels and the tables every template shares.
*/}}

{{/* The chart name, 63 characters at most. */}}
{{- define "cga.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every resource name: <release>-<chart>, or the release name alone when it
already contains the chart name. Component names are appended, so keep room for them.
*/}}
{{- define "cga.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* chart label value: name-version. */}}
{{- define "cga.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels that select a component's pods. Never the chart or app version: a Deployment's selector
is immutable, so anything that changes on upgrade would break `helm upgrade`.
Call with (dict "root" $ "component" "gateway").
*/}}
{{- define "cga.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cga.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Labels that select every pod of the release. */}}
{{- define "cga.releaseSelectorLabels" -}}
app.kubernetes.io/name: {{ include "cga.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of every object. Call with (dict "root" $ "component" "gateway"). */}}
{{- define "cga.labels" -}}
helm.sh/chart: {{ include "cga.chart" .root }}
{{ include "cga.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: custom-gpt-adapter
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{/*
The four services. `key` is the values key, `name` the component name (labels, resource names),
`prefix` the prefix of the service's settings. The ports are the services' defaults; the chart
sets them explicitly so that the Service, probes and NetworkPolicies always agree.
*/}}
{{- define "cga.components" -}}
gateway:
  key: gateway
  name: gateway
  command: cga-gateway
  prefix: CGA_GATEWAY
  port: 8000
auth:
  key: auth
  name: auth
  command: cga-auth
  prefix: CGA_AUTH
  port: 8001
  adminPort: 8011
memoryProxy:
  key: memoryProxy
  name: memory-proxy
  command: cga-memory-proxy
  prefix: CGA_MEMORY_PROXY
  port: 8002
worker:
  key: worker
  name: worker
  command: cga-worker
  prefix: CGA_WORKER
  port: 8003
{{- end }}

{{/* The services in a stable order (templates range over this). */}}
{{- define "cga.componentKeys" -}}
{{- list "gateway" "auth" "memoryProxy" "worker" | toJson }}
{{- end }}

{{/* Name of a component's objects. Call with (dict "root" $ "name" "gateway"). */}}
{{- define "cga.componentFullname" -}}
{{- printf "%s-%s" (include "cga.fullname" .root) .name }}
{{- end }}

{{/* In-cluster base URL of a service, e.g. http://cga-custom-gpt-adapter-auth:8001. */}}
{{- define "cga.serviceUrl" -}}
{{- $components := include "cga.components" .root | fromYaml }}
{{- $c := get $components .key }}
{{- printf "http://%s:%v" (include "cga.componentFullname" (dict "root" .root "name" $c.name)) $c.port }}
{{- end }}

{{/* The ServiceAccount a component's pods run as. */}}
{{- define "cga.serviceAccountName" -}}
{{- $values := get .root.Values .key }}
{{- if $values.serviceAccount.create }}
{{- default (include "cga.componentFullname" (dict "root" .root "name" .name)) $values.serviceAccount.name }}
{{- else }}
{{- required (printf "%s.serviceAccount.name is required when %s.serviceAccount.create is false" .key .key) $values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: by digest when one is given, else by tag (appVersion by default). */}}
{{- define "cga.image" -}}
{{- $image := .Values.image }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default .Chart.AppVersion $image.tag) }}
{{- end }}
{{- end }}

{{/* "true" when the image is pinned by digest: image.digest, or a tag carrying one (skaffold). */}}
{{- define "cga.imagePinned" -}}
{{- if or .Values.image.digest (contains "@sha256:" (toString .Values.image.tag)) }}true{{ end }}
{{- end }}

{{/* A tag can move, a digest cannot: pull tags always, digests once. */}}
{{- define "cga.imagePullPolicy" -}}
{{- if .Values.image.pullPolicy }}
{{- .Values.image.pullPolicy }}
{{- else if include "cga.imagePinned" . }}
{{- "IfNotPresent" }}
{{- else }}
{{- "Always" }}
{{- end }}
{{- end }}

{{/*
The Secret keys, named after the environment variables they fill, and who reads them.
`needs` is a values path that must hold one of `when` for the key to be used (the Memory Bank
keys are read only for their backend).
*/}}
{{- define "cga.secretKeys" -}}
databaseUrl:
  env: CGA_DATABASE_URL
  components: [gateway, auth, memoryProxy, worker, migrate]
redisUrl:
  env: CGA_REDIS_URL
  components: [gateway, auth, memoryProxy, worker]
internalToken:
  env: CGA_INTERNAL_TOKEN
  components: [gateway, memoryProxy, worker]
authAdminToken:
  env: CGA_AUTH_ADMIN_TOKEN
  components: [auth]
authSigningKeys:
  env: CGA_AUTH_SIGNING_KEYS
  components: [auth]
mem0ApiKey:
  env: CGA_MEMORY_PROXY_MEM0_API_KEY
  components: [memoryProxy]
  backend: mem0
mem0PlatformApiKey:
  env: CGA_MEMORY_PROXY_MEM0_PLATFORM_API_KEY
  components: [memoryProxy]
  backend: mem0-platform
{{- end }}

{{/* The secret keys this release uses (the Memory Bank keys only for their backend), as JSON. */}}
{{- define "cga.usedSecretKeys" -}}
{{- $used := dict }}
{{- range $name, $key := include "cga.secretKeys" . | fromYaml }}
{{- if or (not $key.backend) (eq $key.backend $.Values.memoryProxy.backend) }}
{{- $_ := set $used $name $key }}
{{- end }}
{{- end }}
{{- $used | toJson }}
{{- end }}

{{/* Name of the Secret holding the keys above. */}}
{{- define "cga.secretName" -}}
{{- $secrets := .Values.secrets }}
{{- if and $secrets.externalSecret.enabled $secrets.existingSecret }}
{{- fail "secrets: set either externalSecret.enabled or existingSecret, not both" }}
{{- end }}
{{- default (include "cga.fullname" .) $secrets.existingSecret }}
{{- end }}

{{/* `env` entries for the secret keys a component reads. Call with (dict "root" $ "component" "auth"). */}}
{{- define "cga.secretEnv" -}}
{{- $secretName := include "cga.secretName" .root }}
{{- range $name, $key := include "cga.usedSecretKeys" .root | fromJson }}
{{- if has $.component $key.components }}
- name: {{ $key.env }}
  valueFrom:
    secretKeyRef:
      name: {{ $secretName }}
      key: {{ $key.env }}
{{- end }}
{{- end }}
{{- end }}

{{/*
A setting's value as an environment variable. Helm reads numbers as floats, and a float prints
1000000 as "1e+06", which an integer setting refuses: whole numbers print as integers.
*/}}
{{- define "cga.settingValue" -}}
{{- if and (kindIs "float64" .) (eq . (floor .)) }}
{{- int64 . | toString }}
{{- else }}
{{- toString . }}
{{- end }}
{{- end }}

{{/* The system-wide settings every service reads. */}}
{{- define "cga.commonSettings" -}}
{{- $config := .Values.config }}
CGA_ENV: {{ $config.environment | quote }}
CGA_LOG_FORMAT: {{ $config.logFormat | quote }}
CGA_LOG_LEVEL: {{ $config.logLevel | quote }}
CGA_TOKEN_AUDIENCE: {{ $config.tokenAudience | quote }}
CGA_OTEL_SAMPLE_RATIO: {{ include "cga.settingValue" $config.otelSampleRatio | quote }}
{{- with $config.otelExporterOtlpEndpoint }}
CGA_OTEL_EXPORTER_OTLP_ENDPOINT: {{ . | quote }}
{{- end }}
{{- end }}

{{/*
A service's non-secret settings: the system-wide ones, the ones the chart derives (ports, URLs,
shutdown grace) and the service's `settings` from values. Call with (dict "root" $ "key" "gateway").
*/}}
{{- define "cga.componentSettings" -}}
{{- $root := .root }}
{{- $c := get (include "cga.components" $root | fromYaml) .key }}
{{- $values := get $root.Values .key }}
{{- $publicUrl := trimSuffix "/" $root.Values.publicUrl }}
{{- $settings := include "cga.commonSettings" $root | fromYaml }}
{{- range $name, $value := $values.settings }}
{{- $_ := set $settings $name (include "cga.settingValue" $value) }}
{{- end }}
{{- $_ := set $settings (printf "%s_HOST" $c.prefix) "0.0.0.0" }}
{{- $_ := set $settings (printf "%s_PORT" $c.prefix) ($c.port | toString) }}
{{- $_ := set $settings (printf "%s_SHUTDOWN_GRACE" $c.prefix) (printf "%vs" $values.shutdownGraceSeconds) }}
{{- if eq .key "gateway" }}
{{- $_ := set $settings "CGA_GATEWAY_PUBLIC_URL" $publicUrl }}
{{- $_ := set $settings "CGA_GATEWAY_AUTH_PUBLIC_URL" $publicUrl }}
{{- $_ := set $settings "CGA_GATEWAY_AUTH_INTERNAL_URL" (include "cga.serviceUrl" (dict "root" $root "key" "auth")) }}
{{- $_ := set $settings "CGA_GATEWAY_MEMORY_PROXY_URL" (include "cga.serviceUrl" (dict "root" $root "key" "memoryProxy")) }}
{{- else if eq .key "auth" }}
{{- $_ := set $settings "CGA_AUTH_PUBLIC_URL" $publicUrl }}
{{- $_ := set $settings "CGA_AUTH_ADMIN_PORT" ($c.adminPort | toString) }}
{{- else if eq .key "memoryProxy" }}
{{- $_ := set $settings "CGA_MEMORY_PROXY_BACKEND" $values.backend }}
{{- else if eq .key "worker" }}
{{- $_ := set $settings "CGA_WORKER_MEMORY_PROXY_URL" (include "cga.serviceUrl" (dict "root" $root "key" "memoryProxy")) }}
{{- end }}
{{- toYaml $settings }}
{{- end }}

{{/*
Pod and container hardening, shared by the Deployments, the migration Job and the test pod.
The image's user is 10001 (Dockerfile); Python writes only to /tmp (an emptyDir).
*/}}
{{- define "cga.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "cga.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "cga.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end }}

{{- define "cga.tmpVolumeMount" -}}
- name: tmp
  mountPath: /tmp
{{- end }}

{{/*
checkov suppressions of a pod-owning object, each with its reason. checkov reads annotations
whose key starts with `checkov.io/skip` and whose value is `CHECK_ID=reason` (without "=").
Call with (dict "root" $ "resources" <resources> "readsSecrets" bool "oneShot" bool).
*/}}
{{- define "cga.checkovSkips" -}}
{{- $skips := list }}
{{- if .readsSecrets }}
{{- $skips = append $skips (list "CKV_K8S_35" "settings are read from environment variables only (pydantic-settings); secretKeyRef gives each service just the keys it needs") }}
{{- end }}
{{- if not (include "cga.imagePinned" .root) }}
{{- $skips = append $skips (list "CKV_K8S_43" "the image is referenced by tag in this render and pulled with imagePullPolicy Always; production deploys pin image.digest") }}
{{- end }}
{{- /* Requests and limits belong to each environment's values: empty defaults, set in prod. */}}
{{- $resources := .resources | default dict }}
{{- range list (list "CKV_K8S_10" "requests" "cpu") (list "CKV_K8S_11" "limits" "cpu") (list "CKV_K8S_12" "requests" "memory") (list "CKV_K8S_13" "limits" "memory") }}
{{- if not (get (get $resources (index . 1) | default dict) (index . 2)) }}
{{- $skips = append $skips (list (index . 0) (printf "resources.%s.%s is not set in this render: resources are set per environment in its values" (index . 1) (index . 2))) }}
{{- end }}
{{- end }}
{{- if .oneShot }}
{{- range list "CKV_K8S_8" "CKV_K8S_9" }}
{{- $skips = append $skips (list . "a one-shot pod that runs one command and exits has nothing to probe") }}
{{- end }}
{{- end }}
{{- range $skips }}
checkov.io/skip-{{ index . 0 | lower | replace "_" "-" }}: {{ printf "%s=%s" (index . 0) (index . 1) | quote }}
{{- end }}
{{- end }}
