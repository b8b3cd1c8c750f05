#!/usr/bin/env python3
"""Checks ops/compose.yaml without a container engine.

- Every SWITCHBOARD_* variable a node sets is node configuration: the node binary, given the
  image's ENV defaults and the service's environment (nothing else), prints its effective
  configuration (`switchboard config`, which refuses unknown keys) and each variable's value
  comes back at its key. No other service sets one.
- Node services build the repository's Dockerfile; node ids and advertised addresses are
  distinct; each advertised address names the node's own service and its listen port; each
  node publishes its listen port; published host ports are unique.
- The database, Redis, S3 and Cognito addresses name services of the file, on their ports;
  Prometheus scrapes exactly the nodes on their listen ports; Grafana's datasource is that
  Prometheus, under the uid the dashboard names.
- Every file a service mounts or builds from exists; depends_on names services of the file.
- The Cognito ids the nodes are given are the ones ops/compose/aws-init.py gets from moto
  (run here against a local moto_server with the same id strategy).

    python3 ops/compose-check.py [path/to/switchboard]    # default target/debug/switchboard
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "ops" / "compose.yaml"
PREFIX = "SWITCHBOARD_"
failures = []


def fail(message):
    failures.append(message)
    print(f"not ok - {message}", flush=True)


def ok(message):
    print(f"ok - {message}", flush=True)


def image_env():
    """The ENV defaults of the Dockerfile's last stage (what the nodes start with)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    stages = re.split(r"^FROM\s", text, flags=re.M)
    env = {}
    for line in stages[-1].splitlines():
        if line.startswith("ENV "):
            for pair in line[4:].split():
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def key_path(var):
    """SWITCHBOARD_MEDIA__S3__BUCKET -> ["media", "s3", "bucket"]."""
    return var[len(PREFIX):].lower().split("__")


def lookup(config, path):
    for part in path:
        if not isinstance(config, dict) or part not in config:
            return None
        config = config[part]
    return config


def same(printed, given):
    if isinstance(printed, bool):
        return str(printed).lower() == given.lower()
    if isinstance(printed, (int, float)):
        return str(printed) == given
    if isinstance(printed, str) and "<redacted>" in printed:
        return True  # secrets and URL passwords are not printed
    return printed == given


def host_port(url):
    match = re.match(r"^[a-z]+://(?:[^@/]*@)?([^:/]+):(\d+)", url)
    return (match.group(1), int(match.group(2))) if match else (None, None)


def container_ports(service):
    ports = {}
    for spec in service.get("ports", []):
        parts = str(spec).split(":")
        ports[int(parts[-1].split("/")[0])] = int(parts[-2]) if len(parts) > 1 else None
    return ports


def check_config(name, env, binary):
    """Runs `switchboard config` with only the image's and the service's environment."""
    run_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    run_env.update(image_env())
    run_env.update({k: str(v) for k, v in env.items()})
    out = subprocess.run(
        [binary, "config"], env=run_env, capture_output=True, text=True, timeout=60
    )
    if out.returncode != 0:
        fail(f"{name}: the node refuses its configuration: {out.stderr.strip()}")
        return None
    config = tomllib.loads(out.stdout)
    for var, value in env.items():
        if not var.startswith(PREFIX):
            continue
        printed = lookup(config, key_path(var))
        if printed is None or not same(printed, str(value)):
            fail(f"{name}: {var}={value!r} does not come back at {'.'.join(key_path(var))} (got {printed!r})")
    return config


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def moto_ids(moto_env):
    """(pool id, client id) that aws-init.py gets from a moto_server with moto_env."""
    port = free_port()
    env = dict(os.environ, **{k: str(v) for k, v in moto_env.items()})
    server = subprocess.Popen(
        ["moto_server", "-H", "127.0.0.1", "-p", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise SystemExit("moto_server did not start (ops/services.sh: ensure_moto)")
                time.sleep(0.1)
        out = subprocess.run(
            [sys.executable, str(ROOT / "ops" / "compose" / "aws-init.py"), f"http://127.0.0.1:{port}"],
            capture_output=True, text=True, timeout=120, check=True,
        )
        return tuple(out.stdout.split())
    finally:
        server.terminate()
        server.wait()


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target" / "debug" / "switchboard")
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"{binary} not found: cargo build --locked -p switchboard --bin switchboard")
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    base = COMPOSE.parent

    def env_of(service):
        env = service.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.partition("=")[::2] for item in env)
        return env

    def is_node(service):
        build = service.get("build")
        return isinstance(build, dict) and (base / build.get("context", ".")).resolve() == ROOT

    nodes = {name: s for name, s in services.items() if is_node(s)}
    if len(nodes) != 3:
        fail(f"expected three nodes built from the Dockerfile, found {sorted(nodes)}")

    # --- files and references ----------------------------------------------------------------
    for name, service in services.items():
        build = service.get("build")
        if isinstance(build, dict):
            dockerfile = (base / build.get("context", ".")) / build.get("dockerfile", "Dockerfile")
            if not dockerfile.is_file():
                fail(f"{name}: builds from {dockerfile}, which does not exist")
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith((".", "/")) and not (base / source).exists():
                fail(f"{name}: mounts {source}, which does not exist")
        depends = service.get("depends_on") or []
        for dependency in depends if isinstance(depends, list) else depends.keys():
            if dependency not in services:
                fail(f"{name}: depends on {dependency}, which is not a service")
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if not source.startswith((".", "/")) and source not in (compose.get("volumes") or {}):
                fail(f"{name}: named volume {source} is not declared")
    ok("every mounted file, build context and dependency exists")

    published = [host for s in services.values() for host in container_ports(s).values() if host]
    if len(published) != len(set(published)):
        fail(f"a host port is published twice: {sorted(published)}")

    # --- the nodes' configuration ------------------------------------------------------------
    for name, service in services.items():
        if name not in nodes and any(k.startswith(PREFIX) for k in env_of(service)):
            fail(f"{name} is not a node but sets SWITCHBOARD_* variables")
    configs = {}
    for name, service in nodes.items():
        env = env_of(service)
        config = check_config(name, env, binary)
        if config is None:
            continue
        configs[name] = config
        listen_port = int(config["listen"].rsplit(":", 1)[1])
        cluster = config.get("cluster", {})
        if cluster.get("advertise") != f"{name}:{listen_port}":
            fail(f"{name}: advertises {cluster.get('advertise')!r}, not {name}:{listen_port}")
        if listen_port not in container_ports(service):
            fail(f"{name}: listens on {listen_port} but publishes {container_ports(service)}")
        if not config["listen"].startswith("0.0.0.0:"):
            fail(f"{name}: listens on {config['listen']}, not on every interface")
        checked = sum(1 for k in env if k.startswith(PREFIX))
        ok(f"{name}: its {checked} SWITCHBOARD_* variables are configuration keys and read back")
    for field in ("node_id", "advertise"):
        values = [c.get("cluster", {}).get(field) for c in configs.values()]
        if None in values or len(set(values)) != len(values):
            fail(f"the nodes' cluster.{field} are not set and distinct: {values}")
    ok("node ids and advertised addresses distinct; each node publishes its listen port")

    def service_port(url, what, service, port):
        host, got = host_port(url or "")
        if host != service or got != port:
            fail(f"{what} {url!r} is not {service}:{port}")

    for name, config in configs.items():
        # The in-network ports of the images used (their defaults; compose does not remap).
        service_port(config["database"].get("url"), f"{name} database.url", "postgres", 5432)
        service_port(config["cluster"].get("redis_url"), f"{name} cluster.redis_url", "redis", 6379)
        if "5000" not in [str(p) for p in container_ports(services["moto"])]:
            fail("moto does not publish 5000")
        service_port(config["media"]["s3"].get("endpoint"), f"{name} media.s3.endpoint", "moto", 5000)
        service_port(config["cognito"].get("endpoint"), f"{name} cognito.endpoint", "moto", 5000)
        service_port(config["cognito"].get("jwks_url"), f"{name} cognito.jwks_url", "moto", 5000)
        pool = config["cognito"]["user_pool_id"]
        if f"/{pool}/" not in config["cognito"].get("jwks_url", ""):
            fail(f"{name}: cognito.jwks_url is not pool {pool}'s")
    ok("database, Redis, S3 and Cognito addresses name their services and ports")

    # --- Prometheus and Grafana --------------------------------------------------------------
    def mounted(service, target):
        for volume in services[service].get("volumes", []):
            parts = str(volume).split(":")
            if parts[1] == target:
                return base / parts[0]
        fail(f"{service} mounts nothing at {target}")
        return None

    prometheus = mounted("prometheus", "/etc/prometheus/prometheus.yml")
    if prometheus:
        scrape = yaml.safe_load(prometheus.read_text())
        targets = sorted(t for job in scrape["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"])
        expected = sorted(f"{n}:{int(c['listen'].rsplit(':', 1)[1])}" for n, c in configs.items())
        if targets != expected:
            fail(f"Prometheus scrapes {targets}, the nodes are {expected}")
    datasource = mounted("grafana", "/etc/grafana/provisioning/datasources/switchboard.yml")
    dashboards = mounted("grafana", "/etc/grafana/dashboards/switchboard")
    provider = mounted("grafana", "/etc/grafana/provisioning/dashboards/switchboard.yml")
    if datasource and dashboards and provider:
        source = yaml.safe_load(datasource.read_text())["datasources"][0]
        service_port(source["url"], "Grafana's datasource", "prometheus", 9090)
        uids = set()
        for board in dashboards.glob("*.json"):
            uids |= set(re.findall(r'"uid":\s*"(switchboard-prometheus[^"]*)"', board.read_text()))
        if uids != {source["uid"]}:
            fail(f"the dashboards name datasource {uids}, Grafana's is {source['uid']!r}")
        path = yaml.safe_load(provider.read_text())["providers"][0]["options"]["path"]
        if path != "/etc/grafana/dashboards/switchboard":
            fail(f"the dashboard provider reads {path}, the dashboards are mounted elsewhere")
    if "9090" not in [str(p) for p in container_ports(services["prometheus"])]:
        fail("Prometheus does not publish 9090")
    ok("Prometheus scrapes the three nodes; Grafana reads that Prometheus and the dashboards")

    # --- the Cognito ids ---------------------------------------------------------------------
    ids = moto_ids(env_of(services["moto"]))
    for name, config in configs.items():
        given = (config["cognito"]["user_pool_id"], config["cognito"]["client_id"])
        if given != ids:
            fail(f"{name}: Cognito pool and client {given}, aws-init.py makes {ids}")
    ok(f"the nodes' Cognito pool and client are the ones aws-init.py makes in moto: {' '.join(ids)}")

    if failures:
        raise SystemExit(f"compose check FAILED: {len(failures)} problem(s)")
    print("compose check passed")


if __name__ == "__main__":
    main()
