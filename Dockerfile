# syntax=docker/dockerfile:1
#
# vramgate container image: a release build of the one binary on distroless, running as the
# "nonroot" user (65532). The Helm chart starts it as
#   /usr/local/bin/vramgate serve --config ... --tls-cert ... --listen 0.0.0.0:8443 ...
#
#   docker build -t vramgate:dev .
#   docker run --rm vramgate:dev estimate --model llama-2-7b --gpus 8

# ---- build -------------------------------------------------------------------------------
FROM rust:1-bookworm AS build
WORKDIR /src
# Only what the build reads (.dockerignore keeps target/, .venv/ and the like out anyway).
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY tests ./tests
# --locked: exactly the dependency versions in Cargo.lock. The cache mounts keep the registry
# and incremental artefacts between builds without putting them in a layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin vramgate \
 && install -D -m 0755 target/release/vramgate /out/vramgate

# ---- runtime -----------------------------------------------------------------------------
# cc-debian12: glibc and libgcc for the Rust binary, CA certificates, no shell, no package
# manager. The :nonroot tag runs as uid/gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="vramgate" \
      org.opencontainers.image.description="Kubernetes admission webhook that checks LLM jobs' GPU memory, GPU count and cost" \
      org.opencontainers.image.source="https://github.com/vramgate/vramgate" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/vramgate /usr/local/bin/vramgate
# mimalloc (the binary's allocator) returns freed pages to the kernel at once instead of after
# its default purge delay (mimalloc docs, "Environment Options": MIMALLOC_PURGE_DELAY). With the
# delay, 3 rounds of 8 concurrent 7 MiB reviews left 114-124 MiB resident, close to the chart's
# 128 MiB limit; without it 69-72 MiB, at the same throughput (benches/memory.rs, release).
ENV MIMALLOC_PURGE_DELAY=0
USER 65532:65532
# 8443: HTTPS admission endpoint (/validate, /mutate); 8080: /metrics, /healthz, /readyz.
EXPOSE 8443 8080
ENTRYPOINT ["/usr/local/bin/vramgate"]
CMD ["--help"]
