# syntax=docker/dockerfile:1
# The Switchboard node as a container image: built in a Rust image, run in a distroless one
# (glibc, libgcc, CA certificates; no shell, no package manager) as a non-root user.
#
#   docker build --build-arg SOURCE_COMMIT="$(git rev-parse --short=12 HEAD)" -t switchboard .
#   docker run -p 8080:8080 -e SWITCHBOARD_DATABASE__URL=postgres://... switchboard
#
# Configuration is the node's own: SWITCHBOARD_* variables (README, Configuration), or a TOML
# file mounted and named by SWITCHBOARD_CONFIG. The static web files are compiled into the
# binary (include_str!), so the binary is all the image carries.
#
# Build arguments:
#   RUST_IMAGE     the build stage's image (its Rust at least the workspace's rust-version)
#   RUNTIME_IMAGE  the image the node runs in; it must hold glibc, libgcc_s and CA certificates
#   BINARY         where the binary comes from: the build stage (the default), or an image
#                  laid out like it (/out/switchboard, an empty /out/data). ops/image-check.sh
#                  gives one holding the binary built on the host, since it cannot run builds.
#   SOURCE_COMMIT  the commit reported by switchboard_build_info (.git is not sent)
ARG RUST_IMAGE=docker.io/library/rust:1.94.1-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot
ARG BINARY=build

FROM ${RUST_IMAGE} AS build
ARG SOURCE_COMMIT=unknown
WORKDIR /src
COPY . .
# The registry and target caches persist between builds on one builder; the binary is copied
# out of the cache mount into /out, the layout the runtime stage reads.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    SOURCE_COMMIT="${SOURCE_COMMIT}" cargo build --release --locked -p switchboard --bin switchboard \
    && install -D -m 0755 target/release/switchboard /out/switchboard \
    && install -d -m 0700 /out/data

# Indirection so that BINARY can name another stage or an image (see above).
FROM ${BINARY} AS binary

FROM ${RUNTIME_IMAGE}
ARG SOURCE_COMMIT=unknown
LABEL org.opencontainers.image.title="switchboard" \
      org.opencontainers.image.description="Switchboard realtime chat node" \
      org.opencontainers.image.revision="${SOURCE_COMMIT}"
# The binary belongs to root: the node's user cannot replace it. The data directory (the
# SQLite store when database.url is unset, token.key, local media, the node's lock) belongs
# to the node's user, so a volume mounted there starts with the right owner.
COPY --from=binary /out/switchboard /usr/local/bin/switchboard
COPY --from=binary --chown=65532:65532 /out/data /var/lib/switchboard
# Listen on every interface (a container's own network); behind a load balancer, on ECS the
# node advertises its task's IP to the cluster (ECS_CONTAINER_METADATA_URI_V4). JSON logs for
# log collectors.
ENV SWITCHBOARD_LISTEN=0.0.0.0:8080 \
    SWITCHBOARD_DATA_DIR=/var/lib/switchboard \
    SWITCHBOARD_LOG_FORMAT=json
# distroless's `nonroot`, by number so that any runtime image will do.
USER 65532:65532
WORKDIR /var/lib/switchboard
EXPOSE 8080
# Liveness only (/healthz): a draining node says not-ready on /readyz and must not be killed
# for it. The binary asks itself: the runtime image has no curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["/usr/local/bin/switchboard", "healthcheck"]
# Exec form: the node is PID 1 and receives SIGTERM itself (it drains: README, Operating).
# It starts no child processes, so it needs no init to reap them.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/switchboard"]
CMD ["serve"]
