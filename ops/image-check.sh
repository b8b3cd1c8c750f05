#!/usr/bin/env bash
# Lints the Dockerfile (hadolint) and checks the image it builds, without a Docker engine and
# without pulling: this machine's podman/buildah can build but cannot pull base images or run
# containers. So the runtime stage is built on a stand-in for its base (a minimal Debian
# bookworm root made here with mmdebstrap, kept as localhost/switchboard-runtime-base:bookworm
# between runs), with the binary built on the host standing in for the build stage (the
# Dockerfile's BINARY argument), and then inspected:
#   - config: non-root user, exec-form entrypoint and command, the health check, the port,
#     the SWITCHBOARD_* defaults, the stop signal;
#   - files: exactly the binary (root's, identical to the host's) and the data directory (the
#     node user's) on top of the base; no compiler, cargo, rustc or source tree anywhere;
#   - behaviour: the binary runs inside the image's root (its libraries, `chroot` as the
#     image's user and with its environment): `config` reads the image's settings, `serve`
#     answers the image's own health check, and SIGTERM stops it cleanly.
#
#   ops/image-check.sh [BINARY]     # default target/debug/switchboard
#
# Installs hadolint, podman, buildah and mmdebstrap when missing (ops/services.sh); fails
# loudly, never skips.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=ops/services.sh
source ops/services.sh

bin=${1:-target/debug/switchboard}
[ -x "$bin" ] || die "$bin not found: cargo build --locked -p switchboard --bin switchboard"
ensure_hadolint
ensure_image_tools

base=localhost/switchboard-runtime-base:bookworm
binary=localhost/switchboard-binary:check
image=localhost/switchboard:check
work=$(mktemp -d)
node=
mounted=()
cleanup() {
  [ -z "$node" ] || kill "$node" 2>/dev/null || true
  for m in "${mounted[@]}"; do podman image unmount "$m" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "image check FAILED: $*" >&2; exit 1; }
ok() { echo "ok - $*"; }

# --- lint ----------------------------------------------------------------------------------
hadolint Dockerfile || fail "hadolint found problems in Dockerfile"
ok "hadolint: Dockerfile clean"

# --- the base stand-in: made once, then cached in podman's store ----------------------------
if ! podman image exists "$base"; then
  echo "making $base with mmdebstrap (once; about a minute)"
  # distroless's `nonroot` user (65532), which the Dockerfile runs as.
  mmdebstrap --quiet --mode=root --variant=essential --include=ca-certificates \
    --customize-hook='echo "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin" >> "$1/etc/passwd"' \
    --customize-hook='echo "nonroot:x:65532:" >> "$1/etc/group"' \
    --customize-hook='install -d -o 65532 -g 65532 "$1/home/nonroot"' \
    bookworm "$work/base.tar" || die "mmdebstrap could not make the base image"
  podman import --quiet "$work/base.tar" "$base" >/dev/null || die "podman import failed"
  rm -f "$work/base.tar"
fi

# The previous run's images go first (their binary is stale; each run would leave ~350 MB).
podman rmi --force "$image" "$binary" >/dev/null 2>&1 || true

# --- the build stage's stand-in: the host's binary, laid out as the stage leaves it ----------
mkdir -p "$work/out"
install -m 0755 "$bin" "$work/out/switchboard"
install -d -m 0700 "$work/out/data"
ctr=$(buildah from scratch)
buildah copy --quiet --chown 0:0 "$ctr" "$work/out" /out >/dev/null
buildah commit --quiet --rm "$ctr" "$binary" >/dev/null

# --- the image: the production Dockerfile, these two substituted ----------------------------
# Docker format: OCI image configs have no health check.
buildah bud --quiet --format docker --pull=never --layers=false \
  --build-arg BINARY="$binary" --build-arg RUNTIME_IMAGE="$base" \
  --build-arg SOURCE_COMMIT="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" \
  -t "$image" . >/dev/null || fail "the image did not build"
ok "built $image (runtime stage on $base, binary $bin)"

# --- its configuration -----------------------------------------------------------------------
# The Docker-format configuration, as an engine (or ECS) reads it.
buildah inspect --type image "$image" > "$work/inspect.json"
python3 - "$work/inspect.json" <<'EOF' || fail "the image's configuration"
import json, sys
config = json.load(open(sys.argv[1]))["Docker"]["config"]
env = dict(e.split("=", 1) for e in config.get("Env") or [])
user = config.get("User", "")
checks = [
    ("runs as a non-root user", user not in ("", "0", "root") and not user.startswith(("0:", "root:")), user),
    ("exec-form entrypoint", config.get("Entrypoint") == ["/usr/local/bin/switchboard"], config.get("Entrypoint")),
    ("command serve", config.get("Cmd") == ["serve"], config.get("Cmd")),
    ("health check runs the binary's healthcheck",
     (config.get("Healthcheck") or {}).get("Test") == ["CMD", "/usr/local/bin/switchboard", "healthcheck"],
     config.get("Healthcheck")),
    ("exposes 8080/tcp", list(config.get("ExposedPorts") or {}) == ["8080/tcp"], config.get("ExposedPorts")),
    ("listens on every interface, port 8080", env.get("SWITCHBOARD_LISTEN") == "0.0.0.0:8080", env.get("SWITCHBOARD_LISTEN")),
    ("data in /var/lib/switchboard", env.get("SWITCHBOARD_DATA_DIR") == "/var/lib/switchboard", env.get("SWITCHBOARD_DATA_DIR")),
    ("stops on SIGTERM", config.get("StopSignal") in (None, "SIGTERM", "15"), config.get("StopSignal")),
]
bad = [f"{name} (got {got!r})" for name, good, got in checks if not good]
for name, good, got in checks:
    if good:
        print(f"ok - {name}: {got!r}", flush=True)
if bad:
    sys.exit("; ".join(bad))
EOF

# --- its files -------------------------------------------------------------------------------
root=$(podman image mount "$image") && mounted+=("$image") || fail "cannot mount $image"
base_root=$(podman image mount "$base") && mounted+=("$base") || fail "cannot mount $base"
(cd "$root" && find . -xdev | sort) > "$work/image.files"
(cd "$base_root" && find . -xdev | sort) > "$work/base.files"
added=$(comm -13 "$work/base.files" "$work/image.files" | tr '\n' ' ')
[ "$added" = "./usr/local/bin/switchboard ./var/lib/switchboard " ] \
  || fail "the Dockerfile adds more or less than the binary and its data directory: $added"
ok "adds exactly /usr/local/bin/switchboard and /var/lib/switchboard to the base"
cmp -s "$bin" "$root/usr/local/bin/switchboard" || fail "the image's binary is not $bin"
[ "$(stat -c '%u:%g %a' "$root/usr/local/bin/switchboard")" = "0:0 755" ] \
  || fail "the binary is not root's 0755: $(stat -c '%u:%g %a' "$root/usr/local/bin/switchboard")"
[ "$(stat -c '%u:%g' "$root/var/lib/switchboard")" = "65532:65532" ] \
  || fail "/var/lib/switchboard is not the node user's: $(stat -c '%u:%g' "$root/var/lib/switchboard")"
ok "binary identical to $bin, root's 0755; data directory the node user's"
# Compiler drivers, linkers and assemblers on any bin path; compiler and Rust toolchain trees.
tools=$(grep -E -e '^\./(usr/)?(local/)?s?bin/(cargo|rustc|rustup|rustdoc|gcc(-[0-9.]+)?|g\+\+(-[0-9.]+)?|cc|c\+\+|cpp(-[0-9.]+)?|clang(\+\+)?(-[0-9.]+)?|ld|ld\.(bfd|gold|lld)|as|make)$' \
  -e '^\./usr/(lib|libexec)/gcc$' -e '/(\.cargo|\.rustup|rustlib)$' "$work/image.files" || true)
[ -z "$tools" ] || fail "build tools in the image: $tools"
src=$(grep -E '(/Cargo\.(toml|lock)|\.rs|/\.git|/target)$' "$work/image.files" || true)
[ -z "$src" ] || fail "source tree files in the image: $(echo "$src" | head -5)"
ok "no compiler, cargo, rustc or source tree in the image"

# --- the binary inside the image's root -------------------------------------------------------
# The image's environment (and no SWITCHBOARD_* of this shell), as the image's user.
mapfile -t image_env < <(python3 -c '
import json, sys
for e in json.load(open(sys.argv[1]))["Docker"]["config"].get("Env") or []:
    print(e)' "$work/inspect.json")
chroot=$(command -v chroot)
in_image() {
  local run=()
  [ -z "${exec_image:-}" ] || run=(exec)
  "${run[@]}" env -i "${image_env[@]}" "$@" "$chroot" --userspec=65532:65532 "$root" "${entry[@]}"
}
entry=(/usr/local/bin/switchboard config)
printed=$(in_image) || fail "switchboard config does not run in the image's root"
grep -qx 'listen = "0.0.0.0:8080"' <<<"$printed" || fail "config in the image: $printed"
grep -qx 'data_dir = "/var/lib/switchboard"' <<<"$printed" || fail "config in the image: $printed"
ok "the binary runs on the image's libraries: config reads listen 0.0.0.0:8080, data /var/lib/switchboard"

# The image's own files are in podman's store; serve from a copy so the store stays as built.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cp -a "$root" "$work/root"
root=$work/root
entry=(/usr/local/bin/switchboard serve)
# exec: $! is then the node itself (env and chroot exec too), which SIGTERM must reach.
(exec_image=1 in_image SWITCHBOARD_LISTEN=127.0.0.1:$port SWITCHBOARD_LOG=warn \
  SWITCHBOARD_AUTH__ARGON2_MEMORY_KIB=1024 SWITCHBOARD_AUTH__ARGON2_ITERATIONS=1) \
  >"$work/serve.log" 2>&1 &
node=$!
entry=(/usr/local/bin/switchboard healthcheck)
healthy=
for _ in $(seq 100); do
  if in_image SWITCHBOARD_LISTEN=0.0.0.0:$port 2>/dev/null; then healthy=1; break; fi
  kill -0 "$node" 2>/dev/null || break
  sleep 0.1
done
[ -n "$healthy" ] || fail "the image's health check never passed: $(cat "$work/serve.log")"
[ -e "$root/var/lib/switchboard/switchboard.sqlite3" ] || fail "the node did not write its data directory"
ok "serve as the image's user; the image's health check passes"
kill -TERM "$node"
rc=0; wait "$node" || rc=$?
[ "$rc" = 0 ] || fail "serve did not exit cleanly on SIGTERM (status $rc): $(cat "$work/serve.log")"
node=
in_image SWITCHBOARD_LISTEN=0.0.0.0:$port 2>/dev/null && fail "the health check passes with no node"
ok "SIGTERM stops the node cleanly; the health check then fails"
echo "image check passed"
