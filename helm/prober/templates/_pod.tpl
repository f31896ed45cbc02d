{{/*
The pod template of the Deployment (unsharded) and of each shard's StatefulSet.
Called with (dict "root" $ "shard" INDEX), INDEX "" when not sharded.
*/}}
{{- define "prober.podTemplate" -}}
{{- $root := .root }}
{{- $sharded := ne (toString .shard) "" }}
{{- range $root.Values.extraEnv }}
{{- if and (hasKey . "value") (regexMatch "(?i)(TOKEN|PASSWORD|PASSWD|SECRET|API_?KEY|CREDENTIAL)" .name) }}
{{- fail (printf "extraEnv %s: a credential must not be a plain value in the chart's values; reference an existing Secret with valueFrom.secretKeyRef, envFromSecret or secretMounts" .name) }}
{{- end }}
{{- end }}
{{- $configPath := printf "%s/%s" (include "prober.configDir" $root) (include "prober.configFile" $root) }}
{{- $podAnnotations := dict }}
{{- if not $root.Values.existingConfigMap }}
{{- /* A config change changes the pod template, so the pods roll. */}}
{{- $_ := set $podAnnotations "checksum/config" (include "prober.configYaml" $root | sha256sum) }}
{{- end }}
{{- if $root.Values.scrapeAnnotations.enabled }}
{{- $_ := set $podAnnotations "prometheus.io/scrape" "true" }}
{{- $_ := set $podAnnotations "prometheus.io/port" (include "prober.port" $root) }}
{{- $_ := set $podAnnotations "prometheus.io/path" "/metrics" }}
{{- end }}
{{- $podAnnotations = mergeOverwrite $podAnnotations $root.Values.podAnnotations -}}
metadata:
  labels:
    {{- include "prober.labels" $root | nindent 4 }}
    {{- if $sharded }}
    {{- include "prober.shardLabel" . | nindent 4 }}
    {{- end }}
  {{- with $podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "prober.serviceAccountName" $root }}
  automountServiceAccountToken: false
  enableServiceLinks: false
  terminationGracePeriodSeconds: {{ $root.Values.terminationGracePeriodSeconds }}
  {{- with $root.Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    runAsNonRoot: true
    {{- with $root.Values.securityContext.runAsUser }}
    runAsUser: {{ . }}
    {{- end }}
    {{- with $root.Values.securityContext.runAsGroup }}
    runAsGroup: {{ . }}
    {{- end }}
    {{- with $root.Values.securityContext.fsGroup }}
    fsGroup: {{ . }}
    {{- end }}
    seccompProfile:
      type: RuntimeDefault
  containers:
    - name: prober
      image: {{ include "prober.image" $root | quote }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      # The image's ENTRYPOINT is `prober run`; these replace its CMD with the same paths.
      args:
        - -c
        - {{ $configPath }}
        - --listen
        - 0.0.0.0:{{ include "prober.port" $root }}
        - --log-format
        - json
        - --log-level
        - {{ $root.Values.logLevel }}
        {{- if $sharded }}
        - --shard
        - {{ printf "%d/%d" (int .shard) (int $root.Values.shards) | quote }}
        {{- end }}
        {{- range $root.Values.extraArgs }}
        - {{ . | quote }}
        {{- end }}
      env:
        - name: PROBER_REGION
          value: {{ $root.Values.region | quote }}
        {{- with $root.Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $root.Values.envFromSecret }}
      envFrom:
        - secretRef:
            name: {{ . }}
      {{- end }}
      ports:
        - name: {{ include "prober.portName" $root }}
          containerPort: {{ include "prober.port" $root }}
          protocol: TCP
      livenessProbe:
        httpGet:
          path: /healthz
          port: {{ include "prober.portName" $root }}
        initialDelaySeconds: 5
        periodSeconds: 10
        timeoutSeconds: 2
        failureThreshold: 3
      readinessProbe:
        httpGet:
          path: /ready
          port: {{ include "prober.portName" $root }}
        periodSeconds: 5
        timeoutSeconds: 2
        failureThreshold: 2
      {{- with $root.Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        runAsNonRoot: true
        readOnlyRootFilesystem: true
        allowPrivilegeEscalation: false
        privileged: false
        capabilities:
          drop:
            - ALL
        seccompProfile:
          type: RuntimeDefault
      volumeMounts:
        - name: config
          mountPath: {{ include "prober.configDir" $root }}
          readOnly: true
        - name: tmp
          mountPath: /tmp
        {{- range $root.Values.secretMounts }}
        - name: {{ .name }}
          mountPath: {{ .mountPath }}
          readOnly: true
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "prober.configMapName" $root }}
        items:
          - key: {{ ternary $root.Values.existingConfigMapKey (include "prober.configFile" $root) (ne $root.Values.existingConfigMap "") }}
            path: {{ include "prober.configFile" $root }}
    # The only writable path: the root filesystem is read-only.
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- range $root.Values.secretMounts }}
    - name: {{ .name }}
      secret:
        secretName: {{ .secretName }}
        # 0440: readable by the pod's fsGroup, i.e. the non-root prober user.
        defaultMode: 288
        {{- with .items }}
        items:
          {{- toYaml . | nindent 10 }}
        {{- end }}
    {{- end }}
  {{- with $root.Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $root.Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $root.Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if $root.Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml $root.Values.topologySpreadConstraints | nindent 4 }}
  {{- else if $sharded }}
  # A shard's replicas in different zones (then nodes): a zone outage leaves each shard running.
  topologySpreadConstraints:
    - maxSkew: 1
      topologyKey: topology.kubernetes.io/zone
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "prober.shardSelectorLabels" . | nindent 10 }}
    - maxSkew: 1
      topologyKey: kubernetes.io/hostname
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "prober.shardSelectorLabels" . | nindent 10 }}
  {{- end }}
{{- end }}
