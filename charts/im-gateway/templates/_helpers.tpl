{{/* Name of the chart, for the chart label and default names. */}}
{{- define "im-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the release name, prefixed to the chart name unless it contains it.
At most 46 characters, so that the longest name made from it, the Service
"<fullname>-operator-metrics", stays within the 63 of a DNS label.
*/}}
{{- define "im-gateway.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 46 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 46 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 46 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "im-gateway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Kubernetes recommended labels. The operator's pods are named
im-gateway-operator, not im-gateway: a fleet's Deployment and Service select
app.kubernetes.io/name=im-gateway plus app.kubernetes.io/instance=<IMGateway>,
and must never select the operator when an IMGateway shares the release name.
*/}}
{{- define "im-gateway.labels" -}}
helm.sh/chart: {{ include "im-gateway.chart" . }}
app.kubernetes.io/part-of: im-gateway
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ include "im-gateway.imageTag" . | replace "+" "_" | trunc 63 | trimSuffix "-" | quote }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Objects of the release that are not the operator's: its fleet, user roles, monitors. */}}
{{- define "im-gateway.releaseLabels" -}}
{{ include "im-gateway.labels" . }}
app.kubernetes.io/name: {{ include "im-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "im-gateway.operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "im-gateway.name" . }}-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "im-gateway.operator.labels" -}}
{{ include "im-gateway.labels" . }}
{{ include "im-gateway.operator.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "im-gateway.operator.name" -}}
{{- printf "%s-operator" (include "im-gateway.fullname" .) }}
{{- end }}

{{- define "im-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "im-gateway.operator.name" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "im-gateway.leaseName" -}}
{{- default (printf "%s-leader" (include "im-gateway.operator.name" .)) .Values.operator.leaderElection.leaseName }}
{{- end }}

{{/* The namespace whose IMGateways the operator runs; empty for all. */}}
{{- define "im-gateway.watchNamespace" -}}
{{- if eq .Values.operator.scope "Namespace" }}
{{- default .Release.Namespace .Values.operator.watchNamespace }}
{{- end }}
{{- end }}

{{- define "im-gateway.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "im-gateway.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "im-gateway.imageTag" .) }}
{{- end }}
{{- end }}

{{/*
Name of a cluster-scoped object of the release: "<fullname>-<release
namespace>-<suffix>", since two releases of one name in two namespaces share
the cluster. Called with (list . "suffix").
*/}}
{{- define "im-gateway.clusterScopedName" -}}
{{- $ctx := index . 0 }}
{{- printf "%s-%s-%s" (include "im-gateway.fullname" $ctx) $ctx.Release.Namespace (index . 1) }}
{{- end }}

{{/*
Namespaces where the operator, in Cluster scope, may read Secrets and patch
pods (JSON list): rbac.fleetNamespaces, plus this release's fleet's.
*/}}
{{- define "im-gateway.fleetNamespaces" -}}
{{- $namespaces := .Values.rbac.fleetNamespaces | default list }}
{{- if .Values.fleet.enabled }}
{{- $namespaces = append $namespaces (default .Release.Namespace (include "im-gateway.watchNamespace" .)) }}
{{- end }}
{{- $namespaces | uniq | toJson }}
{{- end }}

{{/*
The operator's rules on the fleets' own objects: the drained pods'
controller.kubernetes.io/pod-deletion-cost annotation, and the Secrets it
sends with a drain: adminTokenSecretRef (POST /v1/drain) and
grpcApiTokensSecretRef (CloseConnection). get only: without list or watch it
cannot enumerate Secrets; rbac.secretNames narrows it to those names.
*/}}
{{- define "im-gateway.operator.fleetRules" -}}
# Drain annotations, and delete: the operator removes exactly the pod it
# drained (uid precondition) before lowering the Deployment.
- apiGroups: [""]
  resources: [pods]
  verbs: [patch, delete]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
  {{- with .Values.rbac.secretNames }}
  resourceNames:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
