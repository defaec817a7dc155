{{/* Labels on every object; component is gateway, conversation-worker, slm or migrate. */}}
{{- define "soma.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: soma
app.kubernetes.io/version: {{ .root.Values.image.tag | quote }}
{{ include "soma.selector" . }}
{{- end -}}

{{/* The subset that selects one component's pods. */}}
{{- define "soma.selector" -}}
app.kubernetes.io/name: soma
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "soma.image" -}}
image: {{ printf "%s:%s" .Values.image.repository .Values.image.tag | quote }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
{{- end -}}

{{- define "soma.pullSecrets" -}}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* The image's uid 10001; fsGroup makes the data volume and mounted secrets readable. */}}
{{- define "soma.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Writes go only to /tmp and /data (mounted volumes). */}}
{{- define "soma.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* Holds the pod in the endpoints' removal window before SIGTERM; the image has coreutils. */}}
{{- define "soma.preStop" -}}
lifecycle:
  preStop:
    exec:
      command: ["sleep", {{ . | toString | quote }}]
{{- end -}}

{{/* Without a password: libpq adds PGPASSWORD, so the URL is safe in plain env. */}}
{{- define "soma.databaseUrl" -}}
{{- with .Values.database -}}
{{- $host := .host | default $.Values.global.services.postgresql -}}
postgresql+psycopg://{{ .user }}@{{ $host }}:{{ .port }}/{{ .name }}{{ with .options }}?{{ . }}{{ end }}
{{- end -}}
{{- end -}}

{{/* Database settings for every process. From values, not the ConfigMap: the migration hook runs before it exists. */}}
{{- define "soma.databaseEnv" -}}
- name: SOMA_DATABASE_URL
  value: {{ include "soma.databaseUrl" . | quote }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.password.existingSecret | default "soma-database" }}
      key: {{ .Values.database.password.key }}
{{- end -}}

{{- define "soma.slmKeySecret" -}}
{{- .Values.slm.apiKey.existingSecret | default "soma-slm-api-key" -}}
{{- end -}}

{{- define "soma.hasSlmKey" -}}
{{- if or .Values.slm.apiKey.existingSecret .Values.slm.apiKey.value }}true{{ end -}}
{{- end -}}

{{- define "soma.slmBaseUrl" -}}
{{- if .Values.slm.baseUrl }}{{ .Values.slm.baseUrl }}{{ else if .Values.slm.local.enabled }}http://slm:8000/v1{{ end -}}
{{- end -}}

{{- define "soma.vaultAddr" -}}
{{- .Values.vault.addr | default (printf "http://%s:8200" .Values.global.services.openbao) -}}
{{- end -}}

{{- define "soma.vaultToken" -}}
{{- if and .Values.vault.enabled (eq .Values.vault.auth.method "token") }}true{{ end -}}
{{- end -}}

{{/* Gateway and worker read the SLM key from this file unless Vault is on. */}}
{{- define "soma.slmKeyFile" -}}
{{- if and (not .Values.vault.enabled) (include "soma.hasSlmKey" .) }}true{{ end -}}
{{- end -}}

{{/*
Files gateway and worker read secrets from, in /var/run/secrets/soma: the SLM key or the
Vault token. Mounted whole (no subPath), so a rotated Secret reaches the running pods.
*/}}
{{- define "soma.secretsVolume" -}}
{{- if or (include "soma.slmKeyFile" .) (include "soma.vaultToken" .) }}
- name: secrets
  projected:
    defaultMode: 0440
    sources:
      {{- if include "soma.slmKeyFile" . }}
      - secret:
          name: {{ include "soma.slmKeySecret" . }}
          items:
            - key: {{ .Values.slm.apiKey.key }}
              path: slm-api-key
      {{- end }}
      {{- if include "soma.vaultToken" . }}
      - secret:
          name: {{ .Values.vault.auth.token.existingSecret }}
          items:
            - key: {{ .Values.vault.auth.token.key }}
              path: vault-token
      {{- end }}
{{- end }}
{{- end -}}

{{- define "soma.secretsMount" -}}
{{- if or (include "soma.slmKeyFile" .) (include "soma.vaultToken" .) }}
- name: secrets
  mountPath: /var/run/secrets/soma
  readOnly: true
{{- end }}
{{- end -}}

{{/* Only Vault's Kubernetes auth needs the service account token in the pod. */}}
{{- define "soma.automountToken" -}}
{{- if and .Values.vault.enabled (eq .Values.vault.auth.method "kubernetes") }}true{{ else }}false{{ end -}}
{{- end -}}

{{/* Pod annotations: a new ConfigMap rolls the pods; Prometheus scrapes port/path. Args: root, port. */}}
{{- define "soma.podAnnotations" -}}
checksum/config: {{ include (print .root.Template.BasePath "/configmap.yaml") .root | sha256sum }}
{{- if .root.Values.monitoring.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end -}}

{{- define "soma.hasAdminKey" -}}
{{- if or .Values.auth.bootstrapAdminKey.existingSecret .Values.auth.bootstrapAdminKey.value }}true{{ end -}}
{{- end -}}

{{/* The Secret holding the OIDC client secret, when SSO is on and one is given (an existing one, or soma-oidc-client-secret from a dev value). */}}
{{- define "soma.oidcSecret" -}}
{{- with .Values.auth.oidc }}{{ if .issuer }}{{ if .clientSecret.existingSecret }}{{ .clientSecret.existingSecret }}{{ else if .clientSecret.value }}soma-oidc-client-secret{{ end }}{{ end }}{{ end -}}
{{- end -}}

{{/* The Secret holding the tunnel token, when one is given (an existing one, or soma-tunnel-token from a dev value). */}}
{{- define "soma.tunnelTokenSecret" -}}
{{- if .Values.tunnel.token.existingSecret }}{{ .Values.tunnel.token.existingSecret }}{{ else if .Values.tunnel.token.value }}soma-tunnel-token{{ end -}}
{{- end -}}

{{/* The Secret holding the sandbox key: an existing one, or soma-sandbox-key (from sandbox.key.value or generated). */}}
{{- define "soma.sandboxKeySecret" -}}
{{- .Values.sandbox.key.existingSecret | default "soma-sandbox-key" -}}
{{- end -}}

{{/*
The sandbox key this chart writes into soma-sandbox-key: sandbox.key.value, else the one already in
the cluster (so upgrades keep it), else a new random one. Worked out once per render and kept, so
the Secret and the pods' checksum annotation agree. `helm template` cannot look, so it shows a fresh one.
*/}}
{{- define "soma.sandboxKey" -}}
{{- $key := .Values.sandbox.key -}}
{{- if not (hasKey $key "resolved") -}}
{{- $value := $key.value -}}
{{- if not $value -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace "soma-sandbox-key" -}}
{{- if and $existing $existing.data -}}
{{- $value = index $existing.data $key.key | default "" | b64dec -}}
{{- end -}}
{{- end -}}
{{- $_ := set $key "resolved" ($value | default (randAlphaNum 48)) -}}
{{- end -}}
{{- $key.resolved -}}
{{- end -}}

{{/*
Sandbox and worker restart together when the chart's key changes: both read it from env at start.
An existing Secret changed by hand needs `kubectl rollout restart deploy/sandbox deploy/conversation-worker`.
*/}}
{{- define "soma.sandboxKeyAnnotation" -}}
{{- if not .Values.sandbox.key.existingSecret }}
checksum/sandbox-key: {{ include "soma.sandboxKey" . | sha256sum }}
{{- end }}
{{- end -}}

{{/* SOMA_SANDBOX_KEY, the same Secret in the sandbox and the worker; never a literal. */}}
{{- define "soma.sandboxKeyEnv" -}}
- name: SOMA_SANDBOX_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "soma.sandboxKeySecret" . }}
      key: {{ .Values.sandbox.key.key }}
{{- end -}}
