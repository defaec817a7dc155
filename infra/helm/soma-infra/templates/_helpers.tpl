{{/* Labels on every object; "component" names the part (postgresql, openbao, ...). */}}
{{- define "soma-infra.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: soma
{{ include "soma-infra.selector" . }}
{{- end -}}

{{/* The subset that selects one part's pods. */}}
{{- define "soma-infra.selector" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/*
A secret value: the one given, else the one already in the cluster (so upgrades keep it),
else a new random one. `helm template` cannot look, so it shows a fresh random value.
Args: root, name (Secret), key, value.
*/}}
{{- define "soma-infra.secretValue" -}}
{{- $value := .value -}}
{{- if not $value -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .name -}}
{{- if $existing -}}
{{- if $existing.data -}}
{{- $value = index $existing.data .key | default "" | b64dec -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $value | default (randAlphaNum 32) -}}
{{- end -}}

{{/* Pod-level hardening; each image has its own unprivileged uid. Args: uid, gid. */}}
{{- define "soma-infra.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .gid }}
fsGroup: {{ .gid }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container-level hardening: writes go only to mounted volumes. */}}
{{- define "soma-infra.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{- define "soma-infra.image" -}}
image: {{ printf "%s:%s" .repository .tag | quote }}
imagePullPolicy: {{ .pullPolicy | default "IfNotPresent" }}
{{- end -}}

{{/* A StatefulSet's one volume claim, named data. Arg: the part's storage values (size, storageClassName). */}}
{{- define "soma-infra.dataClaim" -}}
volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: ["ReadWriteOnce"]
      {{- with .storageClassName }}
      storageClassName: {{ . }}
      {{- end }}
      resources:
        requests:
          storage: {{ .size }}
{{- end -}}
