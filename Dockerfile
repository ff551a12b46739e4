# The pipeline's services in one image: the command picks one (enricher, sequencer, sink, api, console,
# topics, ...). It reaches a ClickHouse server (`--dsn http://...`): the embedded engine (chDB) is not
# installed; an image that needs it builds with --build-arg LOCK=service-embedded.
FROM python:3.11-slim

# fonts that pdf reports embed (every script a record may hold)
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-noto-core fonts-droid-fallback fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# the locked dependencies first (a layer that changes only with the lock), then the project without them
ARG LOCK=service
COPY requirements/${LOCK}.lock /tmp/requirements.lock
RUN pip install --no-cache-dir --require-hashes -r /tmp/requirements.lock
COPY pyproject.toml README.md ./
COPY schemas schemas
COPY producer producer
COPY processors processors
COPY store store
COPY ledger ledger
COPY governance governance
COPY sinks sinks
COPY cli cli
COPY api api
RUN pip install --no-cache-dir --no-deps .

# never root; keys and reports under /var/lib/audit-layer (mount a volume there)
RUN useradd --system --uid 10001 --home-dir /var/lib/audit-layer --create-home audit
USER audit
WORKDIR /var/lib/audit-layer

# each service answers on its own health URL: the workers' /healthz with --metrics-port (9464 here), the
# API's /readyz; docker-compose.yml sets AUDIT_LAYER_HEALTH_URL per service
ENV AUDIT_LAYER_METRICS_PORT=9464 \
    AUDIT_LAYER_HEALTH_URL=http://127.0.0.1:9464/healthz
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=4 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen(os.environ['AUDIT_LAYER_HEALTH_URL'], timeout=4)"
ENTRYPOINT ["audit-layer"]
