# The pipeline workers (enricher, sequencer, sink, API) in one image; the command picks the worker.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas schemas
COPY producer producer
COPY processors processors
COPY store store
COPY ledger ledger
COPY governance governance
COPY sinks sinks
COPY cli cli
RUN pip install --no-cache-dir .
ENTRYPOINT ["audit-layer"]
