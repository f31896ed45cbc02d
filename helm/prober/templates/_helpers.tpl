{{/*
Names, labels and the few constants the Deployment, the Service and the
Dockerfile must agree on (tests/test_dockerfile.py checks the Dockerfile side).
*/}}

{{- define "prober.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release name when it already contains the chart name (prober-us-east-1). */}}
{{- define "prober.fullname" -}}
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

{{- define "prober.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "prober.selectorLabels" -}}
app.kubernetes.io/name: {{ include "prober.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "prober.labels" -}}
helm.sh/chart: {{ include "prober.chart" . }}
{{ include "prober.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/component: synthetic-prober
app.kubernetes.io/part-of: prober
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.extraLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "prober.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "prober.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "prober.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* prober's own port (conventions.CONTAINER_LISTEN); the Dockerfile EXPOSEs it. */}}
{{- define "prober.port" -}}9477{{- end }}
{{- define "prober.portName" -}}http-metrics{{- end }}
{{/* Where the config is mounted; the Dockerfile's CMD reads the same file. */}}
{{- define "prober.configDir" -}}/etc/prober{{- end }}
{{- define "prober.configFile" -}}probes.yaml{{- end }}

{{- define "prober.configMapName" -}}
{{- .Values.existingConfigMap | default (include "prober.fullname" .) }}
{{- end }}

{{/* The probes.yaml text; its checksum on the pod template rolls the pods. */}}
{{- define "prober.configYaml" -}}
{{- if not .Values.config }}
{{- fail "config is empty: give the probes.yaml content as `config`, or name an existingConfigMap" }}
{{- end }}
{{- toYaml .Values.config }}
{{- end }}

{{/*
Sharding (docs/deploy.md, "Scaling out"): shards: 1 and replicasPerShard: 1 is one
Deployment, as ever; anything else is one StatefulSet per shard, replicasPerShard
pods each, every pod running `prober run --shard INDEX/TOTAL`.
*/}}
{{- define "prober.unsharded" -}}
{{- if and (eq (int .Values.shards) 1) (eq (int .Values.replicasPerShard) 1) }}true{{ end }}
{{- end }}

{{/* Called with (dict "root" $ "shard" INDEX). */}}
{{- define "prober.shardLabel" -}}
prober/shard: {{ .shard | toString | quote }}
{{- end }}

{{- define "prober.shardSelectorLabels" -}}
{{ include "prober.selectorLabels" .root }}
{{ include "prober.shardLabel" . }}
{{- end }}

{{- define "prober.shardName" -}}
{{- printf "%s-shard-%d" (include "prober.fullname" .root) (int .shard) }}
{{- end }}
