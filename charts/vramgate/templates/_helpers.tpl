{{/*
Name of the chart, or nameOverride.
*/}}
{{- define "vramgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: the release name when it already contains the chart name
("vramgate", "vramgate-prod"), else "<release>-<chart>". Truncated to 63 characters (DNS label).
*/}}
{{- define "vramgate.fullname" -}}
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

{{- define "vramgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every object.
*/}}
{{- define "vramgate.labels" -}}
helm.sh/chart: {{ include "vramgate.chart" . }}
{{ include "vramgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: admission-webhook
app.kubernetes.io/part-of: vramgate
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels: stable across upgrades (a Deployment's selector is immutable).
*/}}
{{- define "vramgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vramgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "vramgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "vramgate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image reference: repository@digest when a digest is set, else repository:tag (tag defaults
to the chart's appVersion).
*/}}
{{- define "vramgate.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Secret holding tls.crt and tls.key (and ca.crt) for the HTTPS port. */}}
{{- define "vramgate.tlsSecretName" -}}
{{- printf "%s-tls" (include "vramgate.fullname" .) }}
{{- end }}

{{/* The serving certificate's cert-manager Certificate (certManager mode). */}}
{{- define "vramgate.certificateName" -}}
{{- printf "%s-serving" (include "vramgate.fullname" .) }}
{{- end }}

{{/*
DNS names the API server may use for the webhook Service: it dials <service>.<namespace>.svc.
*/}}
{{- define "vramgate.dnsNames" -}}
{{- $svc := include "vramgate.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.clusterDomain) | toJson }}
{{- end }}

{{/*
The container's command line. The tests launch the real binary with exactly these arguments
(addresses and paths substituted), so change them here only.
*/}}
{{- define "vramgate.args" -}}
- serve
{{- if eq .Values.config.source "configMap" }}
- --config-map
- {{ printf "%s/%s" .Release.Namespace (include "vramgate.fullname" .) | quote }}
{{- else }}
- --config
- /etc/vramgate/config.yaml
{{- end }}
- --tls-cert
- /etc/vramgate/tls/tls.crt
- --tls-key
- /etc/vramgate/tls/tls.key
- --listen
- {{ printf "0.0.0.0:%d" (int .Values.service.targetPort) | quote }}
- --metrics-listen
- {{ printf "0.0.0.0:%d" (int .Values.metrics.port) | quote }}
- --reload-interval
- {{ .Values.reloadIntervalSeconds | quote }}
{{- if .Values.cluster.enabled }}
- --cluster
{{- end }}
{{- if not .Values.ui.enabled }}
- --no-ui
{{- end }}
{{- with .Values.extraArgs }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Whether the server talks to the Kubernetes API: it watches the cluster (cluster.enabled) or its
config ConfigMap (config.source=configMap). Only then is a ServiceAccount token mounted.
*/}}
{{- define "vramgate.needsApi" -}}
{{- if or .Values.cluster.enabled (eq .Values.config.source "configMap") }}true{{ end }}
{{- end }}

{{/*
The config file: the `config` values without `source` (how the file is read, not part of it),
plus `server.webhook_timeout_seconds` from `webhook.timeoutSeconds` (the server must know the
timeout the API server applies), and the `cluster:` section from the `cluster` values when
cluster awareness is on.
*/}}
{{- define "vramgate.configFile" -}}
{{- $cfg := omit .Values.config "source" }}
{{- $_ := set $cfg "server" (merge (dict "webhook_timeout_seconds" (int .Values.webhook.timeoutSeconds)) (deepCopy (default (dict) .Values.config.server))) }}
{{- if .Values.cluster.enabled }}
{{- $_ := set $cfg "cluster" (dict "team_label" .Values.cluster.teamLabel "inventory_max_stale_seconds" (int .Values.cluster.inventoryMaxStaleSeconds) "enforce_inventory" .Values.cluster.enforceInventory) }}
{{- end }}
{{- if .Values.audit.policyReports.enabled }}
{{- $_ := set $cfg "audit" (merge (dict "policy_reports" true) (deepCopy (default (dict) .Values.config.audit))) }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/*
RBAC rules: exactly what `vramgate cluster rbac` prints (tests/chart/test_rbac.py compares the
two). clusterRole: the inventory and live-cost watches; configMapRole: the config ConfigMap
watch (the Role adds resourceNames).
*/}}
{{- define "vramgate.clusterRules" -}}
- apiGroups: [""]
  resources: [nodes]
  verbs: [list, watch]
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch]
- apiGroups: [apps]
  resources: [deployments, statefulsets]
  verbs: [list, watch]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [list, watch]
- apiGroups: [batch.volcano.sh]
  resources: [jobs]
  verbs: [list, watch]
- apiGroups: [jobset.x-k8s.io]
  resources: [jobsets]
  verbs: [list, watch]
- apiGroups: [kubeflow.org]
  resources: [mpijobs, pytorchjobs]
  verbs: [list, watch]
- apiGroups: [leaderworkerset.x-k8s.io]
  resources: [leaderworkersets]
  verbs: [list, watch]
- apiGroups: [ray.io]
  resources: [rayclusters, rayjobs]
  verbs: [list, watch]
- apiGroups: [resource.k8s.io]
  resources: [resourceclaimtemplates]
  verbs: [list, watch]
- apiGroups: [serving.kserve.io]
  resources: [inferenceservices]
  verbs: [list, watch]
{{- end }}

{{- define "vramgate.configMapRules" -}}
- apiGroups: [""]
  resources: [configmaps]
  resourceNames: [{{ include "vramgate.fullname" . | quote }}]
  verbs: [list, watch]
{{- end }}

{{/*
Whether any policy (cluster-wide or a namespace override) requires annotations: then objects
without vramgate.io/ annotations must reach the webhook, so the annotated-only matchCondition
cannot be used.
*/}}
{{- define "vramgate.requiresAnnotations" -}}
{{- $req := false }}
{{- if .Values.config.policy.require_annotations }}{{ $req = true }}{{ end }}
{{- range $ns, $p := .Values.config.namespaces }}
{{- if and $p (kindIs "map" $p) $p.require_annotations }}{{ $req = true }}{{ end }}
{{- end }}
{{- if $req }}true{{ end }}
{{- end }}

{{/*
The parts shared by the validating and mutating webhooks: which namespaces, objects and kinds
reach the webhook. Called with (dict "root" $ "path" "/validate").
*/}}
{{- define "vramgate.webhookCommon" -}}
{{- $root := .root -}}
admissionReviewVersions: ["v1"]
sideEffects: None
timeoutSeconds: {{ $root.Values.webhook.timeoutSeconds }}
matchPolicy: Equivalent
clientConfig:
  service:
    name: {{ include "vramgate.fullname" $root }}
    namespace: {{ $root.Release.Namespace }}
    path: {{ .path }}
    port: {{ $root.Values.service.port }}
  {{- with .caBundle }}
  caBundle: {{ . }}
  {{- end }}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values:
        {{- $excluded := concat (list "kube-system" $root.Release.Namespace) $root.Values.webhook.excludeNamespaces | uniq }}
        {{- range $excluded }}
        - {{ . | quote }}
        {{- end }}
    {{- with $root.Values.webhook.namespaceSelectorExpressions }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
objectSelector:
  {{- with $root.Values.webhook.objectSelector }}
  {{- toYaml . | nindent 2 }}
  {{- else }} {}
  {{- end }}
{{- if $root.Values.webhook.annotatedOnly }}
matchConditions:
  # Only objects with at least one vramgate.io/ annotation are sent to the webhook: the API
  # server evaluates this CEL expression itself, so unannotated workloads never wait on (or
  # fail because of) vramgate.
  # A /scale request carries an autoscaling/v1 Scale, which has no annotations of its own:
  # it is always sent (vramgate judges it against the watched parent, or per unjudged_scale).
  - name: has-vramgate-annotation
    expression: "request.subResource == 'scale' || (has(object.metadata.annotations) && object.metadata.annotations.exists(k, k.startsWith('vramgate.io/')))"
{{- end }}
rules:
  # Exactly the kinds vramgate understands; group, version and resource are listed one rule
  # each so that no other version of the same resource is sent (matchPolicy Equivalent still
  # converts requests made through an equivalent version).
  - apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["pods"]
    operations: ["CREATE", "UPDATE"]
    scope: Namespaced
  - apiGroups: ["batch"]
    apiVersions: ["v1"]
    resources: ["jobs"]
    operations: ["CREATE", "UPDATE"]
    scope: Namespaced
  - apiGroups: ["kubeflow.org"]
    apiVersions: ["v1"]
    # pytorchjobs/scale: kubectl scale and HorizontalPodAutoscalers (a Scale review).
    resources: ["pytorchjobs", "pytorchjobs/scale"]
    operations: ["CREATE", "UPDATE"]
    scope: Namespaced
  - apiGroups: ["kubeflow.org"]
    apiVersions: ["v2beta1"]
    resources: ["mpijobs"]
    operations: ["CREATE", "UPDATE"]
    scope: Namespaced
  - apiGroups: ["jobset.x-k8s.io"]
    apiVersions: ["v1alpha2"]
    resources: ["jobsets"]
    operations: ["CREATE", "UPDATE"]
    scope: Namespaced
  - apiGroups: ["ray.io"]
    apiVersions: ["v1"]
    resources: ["rayjobs", "rayclusters"]
    operations: ["CREATE", "UPDATE"]
    scope: Namespaced
  - apiGroups: ["batch.volcano.sh"]
    apiVersions: ["v1alpha1"]
    resources: ["jobs"]
    operations: ["CREATE", "UPDATE"]
    scope: Namespaced
  - apiGroups: ["leaderworkerset.x-k8s.io"]
    apiVersions: ["v1"]
    resources: ["leaderworkersets", "leaderworkersets/scale"]
    operations: ["CREATE", "UPDATE"]
    scope: Namespaced
  # Inference servers (issue 15): a Deployment's pods are judged with it, not one by one.
  - apiGroups: ["apps"]
    apiVersions: ["v1"]
    resources: ["deployments", "statefulsets"]
    operations: ["CREATE", "UPDATE"]
    scope: Namespaced
  - apiGroups: ["serving.kserve.io"]
    apiVersions: ["v1beta1"]
    resources: ["inferenceservices"]
    operations: ["CREATE", "UPDATE"]
    scope: Namespaced
{{- end }}
