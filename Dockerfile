# deskhand: one image for every role (scheduler, MCP server over HTTP, sandbox); the command picks it.
#   docker build -t deskhand:local .
#   docker run --rm deskhand:local --help

FROM rust:1.94-bookworm AS builder
WORKDIR /src
COPY . .
# The cache mounts keep the registry and build artefacts between builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p deskhand --bin deskhand \
    && install -D target/release/deskhand /out/deskhand

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin deskhand \
    && mkdir -p /app/data \
    && chown deskhand /app/data
COPY --from=builder /out/deskhand /usr/local/bin/deskhand
# The shipped workflows and the prompts they reference (`../prompts/...`).
COPY workflows /app/workflows
COPY prompts /app/prompts
WORKDIR /app/data
USER deskhand
ENV DESKHAND_LOG_FORMAT=json \
    DESKHAND_WORKFLOWS=/app/workflows
EXPOSE 8080 8765 9464
ENTRYPOINT ["deskhand"]
CMD ["schedule", "--metrics-addr", "0.0.0.0:9464"]
