{{/* Chart name, truncated to the 63 characters a label value may have. */}}
{{- define "farod.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-farod unless the release name already contains it. */}}
{{- define "farod.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "farod.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "farod.labels" -}}
helm.sh/chart: {{ include "farod.chart" . }}
{{ include "farod.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: farod
{{- end }}

{{/* Labels that select farod's pods; never change them on upgrade (Deployment selectors are immutable). */}}
{{- define "farod.selectorLabels" -}}
app.kubernetes.io/name: {{ include "farod.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "farod.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "farod.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The policy ConfigMap's name: farod watches it for hot reload. */}}
{{- define "farod.configMapName" -}}
{{- include "farod.fullname" . }}
{{- end }}

{{/* Does the cluster serve the Prometheus Operator's API? */}}
{{- define "farod.hasPrometheusOperator" -}}
{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" }}true{{ end }}
{{- end }}

{{/*
farod's rules, read from the one source (rules/ through the files/rules symlink), with two
release-specific parts: FarodDown watches this release's scrape job in this namespace (the
source's `up{job="farod"}`), and runbook links point at alerting.runbookBaseUrl.
*/}}
{{- define "farod.rulesText" -}}
{{- $text := .Files.Get "files/rules/farod.rules.yaml" }}
{{- if not $text }}
{{- fail "files/rules/farod.rules.yaml is missing: the chart must be packaged with helm/farod/files/rules -> ../../../rules" }}
{{- end }}
{{- $ownJob := "up{job=\"farod\"}" }}
{{- $sourceRunbooks := "https://github.com/farod/farod/blob/main/rules/README.md" }}
{{- if not (and (contains $ownJob $text) (contains $sourceRunbooks $text)) }}
{{- fail "files/rules/farod.rules.yaml no longer selects up{job=\"farod\"} or links the runbooks: update farod.rulesText" }}
{{- end }}
{{- $job := .Values.alerting.scrapeJob | default (include "farod.fullname" .) }}
{{- $text = replace $ownJob (printf "up{job=%s, namespace=%s}" ($job | quote) (.Release.Namespace | quote)) $text }}
{{- replace $sourceRunbooks .Values.alerting.runbookBaseUrl $text }}
{{- end }}

{{/*
farod's config file (the schema of config/farod.example.yaml) rendered from the camelCase values.
Values go through toJson, which is valid YAML and keeps nulls, numbers and strings exact.
*/}}
{{- define "farod.config" -}}
log_level: {{ .Values.logLevel | toJson }}
prometheus:
  url: {{ .Values.prometheus.url | toJson }}
  bearer_token_file: {{ .Values.prometheus.bearerTokenFile | toJson }}
  tls_verify: {{ .Values.prometheus.tlsVerify | toJson }}
  ca_file: {{ .Values.prometheus.caFile | toJson }}
  allow_insecure_http: {{ .Values.prometheus.allowInsecureHttp | toJson }}
  timeout_s: {{ .Values.prometheus.timeoutSeconds | toJson }}
  use_recording_rules: {{ .Values.prometheus.useRecordingRules | toJson }}
  namespace: {{ if .Values.prometheus.selectReleaseNamespace }}{{ .Release.Namespace | toJson }}{{ else }}null{{ end }}
  backfill_hours: {{ .Values.prometheus.backfillHours | toJson }}
  backfill_days: {{ .Values.prometheus.backfillDays | toJson }}
jobs:
{{- range .Values.jobs }}
  - application: {{ .application | toJson }}
    deployment: {{ .deployment | toJson }}
    slo_ms: {{ .sloMs | toJson }}
    {{- if hasKey . "serviceTimeMs" }}
    service_time_ms: {{ .serviceTimeMs | toJson }}
    {{- end }}
    {{- if hasKey . "serviceTailMs" }}
    service_tail_ms: {{ .serviceTailMs | toJson }}
    {{- end }}
    {{- if hasKey . "minReplicas" }}
    min_replicas: {{ .minReplicas | toJson }}
    {{- end }}
    {{- if hasKey . "maxReplicas" }}
    max_replicas: {{ .maxReplicas | toJson }}
    {{- end }}
    {{- if hasKey . "weight" }}
    weight: {{ .weight | toJson }}
    {{- end }}
    {{- if hasKey . "resources" }}
    resources: {{ .resources | toJson }}
    {{- end }}
    {{- if hasKey . "maxQueuedRequests" }}
    max_queued_requests: {{ .maxQueuedRequests | toJson }}
    {{- end }}
{{- end }}
quota:
{{- if (.Values.quota.fromResourceQuota).name }}
  from_resource_quota: {name: {{ .Values.quota.fromResourceQuota.name | toJson }}}
{{- else }}
{{- range $resource, $amount := .Values.quota.resources }}
  {{ $resource | toJson }}: {{ $amount | toJson }}
{{- end }}
{{- end }}
policy:
  name: {{ .Values.policy.name | toJson }}
  params: {{ .Values.policy.params | default dict | toJson }}
forecaster:
  name: {{ .Values.forecaster.name | toJson }}
  params: {{ .Values.forecaster.params | default dict | toJson }}
actuator:
  kind: {{ .Values.actuator.kind | toJson }}
  rayservice:
    namespace: {{ .Release.Namespace | toJson }}
    name: {{ .Values.actuator.rayservice.name | toJson }}
  rayserve:
    url: {{ .Values.actuator.rayserve.url | toJson }}
    bearer_token_file: {{ .Values.actuator.rayserve.bearerTokenFile | toJson }}
    tls_verify: {{ .Values.actuator.rayserve.tlsVerify | toJson }}
    ca_file: {{ .Values.actuator.rayserve.caFile | toJson }}
    allow_insecure_http: {{ .Values.actuator.rayserve.allowInsecureHttp | toJson }}
    take_over_autoscaling: {{ .Values.actuator.rayserve.takeOverAutoscaling | toJson }}
    timeout_s: {{ .Values.actuator.rayserve.timeoutSeconds | toJson }}
intervals:
  tick_s: {{ .Values.intervals.tickSeconds | toJson }}
  plan_s: {{ .Values.intervals.planSeconds | toJson }}
safety:
  max_replicas_added: {{ .Values.safety.maxReplicasAdded | toJson }}
  max_replicas_removed: {{ .Values.safety.maxReplicasRemoved | toJson }}
server:
  host: "0.0.0.0"
  port: {{ .Values.service.port | toJson }}
kubernetes:
  enabled: true
  namespace: {{ .Release.Namespace | toJson }}
  policy_configmap: {name: {{ include "farod.configMapName" . | toJson }}, key: {{ .Values.configKey | toJson }}}
  leader_election:
    enabled: {{ .Values.leaderElection.enabled | toJson }}
    lease_name: {{ include "farod.fullname" . | toJson }}
    lease_duration_s: {{ .Values.leaderElection.leaseDurationSeconds | toJson }}
    renew_deadline_s: {{ .Values.leaderElection.renewDeadlineSeconds | toJson }}
    retry_period_s: {{ .Values.leaderElection.retryPeriodSeconds | toJson }}
{{- end }}
