# Multi-stage build of intercom-export: a Rust build stage, then a small
# Debian runtime with only CA certificates and the binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY config ./config
COPY schemas ./schemas
# Cargo.toml declares the test and bench targets: their sources must exist
# for the manifest to load, even though only the binary is built.
COPY tests ./tests
COPY benches ./benches
RUN cargo build --release --locked --bin intercom-export

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --create-home exporter \
    && mkdir -p /data && chown exporter /data
COPY --from=build /src/target/release/intercom-export /usr/local/bin/intercom-export
USER exporter
WORKDIR /data
ENTRYPOINT ["intercom-export"]
CMD ["--help"]
