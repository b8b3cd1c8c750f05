#!/usr/bin/env python3
"""Static checks of ops/terraform, for a machine without Terraform (run by ops/terraform/check.sh).

Parses every .tf file with python-hcl2 and checks, for the module and for each example root:
  - every variable has a type and a non-empty description, is referenced, and every `var.X`
    names a declared variable; every `local.X` names a declared local;
  - every output has a description;
  - a module call passes only variables the module declares, and every one it requires;
  - every output of a called module is used by the caller (referenced as module.NAME.OUTPUT),
    and every such reference names a real output;
  - the drain: the module's defaults for the node's shutdown grace and close timeout are the
    node's own (actors/src/config.rs), and the deregistration delay's default exceeds them;
  - the metrics the collector publishes are in docs/METRICS.md, and every alarm on the node's
    metrics reads one of them;
  - every `#checkov:skip=CHECK:reason` comment gives a reason;
  - with --node BINARY: the node accepts every SWITCHBOARD_* variable the task definition sets
    (`switchboard config` refuses unknown keys), and knows the subcommands the deployment runs
    (the container health check's, `migrate`).
Prints one line per problem and exits 1 if there is any.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import hcl2

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
MODULE = HERE / "modules" / "switchboard"
ROOTS = sorted(p for p in (HERE / "examples").iterdir() if p.is_dir())

# Attribute names whose values are prose, not expressions: a `var.x` in them is no reference.
PROSE_KEYS = {"description", "error_message"}
# Arguments of a module block that are not the module's variables.
MODULE_META = {"source", "version", "providers", "count", "for_each", "depends_on"}
REF = {
    kind: re.compile(rf"(?<![\w.]){kind}\.([A-Za-z_][A-Za-z0-9_-]*)")
    for kind in ("var", "local")
}
MODULE_REF = re.compile(r"(?<![\w.])module\.([A-Za-z_][A-Za-z0-9_-]*)\.([A-Za-z_][A-Za-z0-9_-]*)")
SKIP = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?")

problems: list[str] = []


def problem(where: Path | str, text: str) -> None:
    where = where.relative_to(REPO) if isinstance(where, Path) else where
    problems.append(f"{where}: {text}")


def unquote(s: str) -> str:
    return s[1:-1] if len(s) >= 2 and s[0] == s[-1] == '"' else s


def blocks(parsed: dict, kind: str):
    """(name, body) of each `kind "name" { ... }` block of one parsed file."""
    for entry in parsed.get(kind, []):
        for name, body in entry.items():
            yield unquote(name), body


def strings(value, key: str | None = None):
    """Every string in a parsed value (keys too), skipping prose attributes and comments."""
    if key in PROSE_KEYS or key == "__comments__":
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from strings(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


class Dir:
    """The .tf files of one module or root, parsed."""

    def __init__(self, path: Path):
        self.path = path
        self.files: dict[Path, dict] = {}
        for f in sorted(path.glob("*.tf")):
            try:
                with f.open() as fh:
                    self.files[f] = hcl2.load(fh)
            except Exception as e:  # the parser's errors are of several types
                problem(f, f"does not parse: {e}")
        if not self.files:
            problem(path, "no .tf files")
        self.variables = {n: (f, b) for f, p in self.files.items() for n, b in blocks(p, "variable")}
        self.outputs = {n: (f, b) for f, p in self.files.items() for n, b in blocks(p, "output")}
        self.modules = {n: (f, b) for f, p in self.files.items() for n, b in blocks(p, "module")}
        self.locals = {
            unquote(k): v
            for p in self.files.values()
            for entry in p.get("locals", [])
            for k, v in entry.items()
            if k != "__is_block__"
        }

    def refs(self, pattern: re.Pattern) -> set[tuple]:
        found = set()
        for f, parsed in self.files.items():
            for s in strings(parsed):
                for m in pattern.finditer(s):
                    found.add((f, *m.groups()))
        return found


def check_variables(d: Dir) -> None:
    for name, (f, body) in d.variables.items():
        if "type" not in body:
            problem(f, f'variable "{name}" has no type')
        if not unquote(str(body.get("description", ""))).strip():
            problem(f, f'variable "{name}" has no description')
    used = set()
    for f, name in d.refs(REF["var"]):
        used.add(name)
        if name not in d.variables:
            problem(f, f"var.{name} is not declared")
    for name, (f, _) in d.variables.items():
        if name not in used:
            problem(f, f'variable "{name}" is declared but never used')
    for f, name in d.refs(REF["local"]):
        if name not in d.locals:
            problem(f, f"local.{name} is not declared")
    for name, (f, body) in d.outputs.items():
        if not unquote(str(body.get("description", ""))).strip():
            problem(f, f'output "{name}" has no description')


def check_module_calls(root: Dir) -> None:
    uses = root.refs(MODULE_REF)
    for call, (f, body) in root.modules.items():
        source = unquote(str(body.get("source", "")))
        if not source.startswith("."):
            problem(f, f'module "{call}": source {source!r} is not a local path')
            continue
        module = Dir((f.parent / source).resolve())
        args = {unquote(k) for k in body if k not in MODULE_META and k != "__is_block__"}
        for a in sorted(args - module.variables.keys()):
            problem(f, f'module "{call}" passes {a}, which the module does not declare')
        required = {n for n, (_, b) in module.variables.items() if "default" not in b}
        for a in sorted(required - args):
            problem(f, f'module "{call}" does not pass {a}, which the module requires')
        used = {out for (_, c, out) in uses if c == call}
        for out in sorted(used - module.outputs.keys()):
            problem(f, f"module.{call}.{out} is not an output of the module")
        for out in sorted(module.outputs.keys() - used):
            problem(module.outputs[out][0], f'output "{out}" is not used by {root.path.name} (module "{call}")')


def default_of(d: Dir, name: str):
    f, body = d.variables[name]
    if "default" not in body:
        problem(f, f'variable "{name}" needs a default')
        return None
    return body["default"]


def check_drain(module: Dir) -> None:
    """The module's idea of the node's drain is the node's own, and the delay exceeds it."""
    config = (REPO / "actors" / "src" / "config.rs").read_text()
    node_ms = {}
    for field in ("shutdown_grace", "close_timeout"):
        m = re.search(rf"\b{field}: Duration::from_(secs|millis)\((\d+)\)", config)
        if not m:
            problem("actors/src/config.rs", f"cannot find the default of {field}")
            return
        node_ms[field] = int(m.group(2)) * (1000 if m.group(1) == "secs" else 1)
    node = {"shutdown_grace": node_ms["shutdown_grace"] / 1000, "close_timeout": node_ms["close_timeout"]}
    grace = default_of(module, "shutdown_grace_secs")
    close = default_of(module, "close_timeout_ms")
    delay = default_of(module, "deregistration_delay_secs")
    stop = default_of(module, "stop_timeout_secs")
    if None in (grace, close, delay, stop):
        return
    f = module.variables["shutdown_grace_secs"][0]
    if grace != node["shutdown_grace"]:
        problem(f, f"shutdown_grace_secs defaults to {grace}, the node's engine.shutdown_grace_secs to {node['shutdown_grace']}")
    if close != node["close_timeout"]:
        problem(f, f"close_timeout_ms defaults to {close}, the node's engine.close_timeout_ms to {node['close_timeout']}")
    drain = grace + math.ceil(close / 1000)
    if not delay > drain:
        problem(f, f"deregistration_delay_secs defaults to {delay}, not more than the drain ({drain} s)")
    if not drain + 10 <= stop <= 120:
        problem(f, f"stop_timeout_secs defaults to {stop}: not between the drain + 10 s ({drain + 10}) and 120")


def check_metrics(module: Dir) -> None:
    """The metrics the collector exports are the node's (docs/METRICS.md), none matches another
    (awsemf's selectors are unanchored expressions), and every alarm on the node's metrics
    reads one that is exported."""
    exported = [unquote(m) for m in default_of(module, "exported_metrics") or []]
    catalogue = re.findall(r"^\| `([a-z_]+)` \|", (REPO / "docs" / "METRICS.md").read_text(), re.M)
    f = module.variables["exported_metrics"][0]
    for name in exported:
        if name not in catalogue:
            problem(f, f"exported metric {name} is not in docs/METRICS.md")
        for other in catalogue:
            if other != name and name in other:
                problem(f, f"exported metric {name} would also select {other} (selectors are unanchored)")
    alarms = (module.path / "alarms.tf").read_text()
    for name in re.findall(r'namespace = "Switchboard", metric = "([a-z_]+)"', alarms):
        if name not in exported:
            problem(module.path / "alarms.tf", f"alarm on {name}, which exported_metrics does not export")


def check_skips() -> None:
    for f in sorted(HERE.rglob("*.tf")):
        for n, line in enumerate(f.read_text().splitlines(), 1):
            m = SKIP.search(line)
            if m and not (m.group(2) or "").strip():
                problem(f"{f.relative_to(REPO)}:{n}", f"checkov skip of {m.group(1)} gives no reason")


def task_env_names(module: Dir) -> list[str]:
    names = []
    for local in ("node_env", "node_secrets"):
        value = module.locals.get(local)
        if value is None:
            problem(module.path, f"local.{local} (the task's SWITCHBOARD_* variables) is missing")
            continue
        names += re.findall(r"\bSWITCHBOARD_[A-Z0-9_]+\b", " ".join(strings(value)))
    return sorted(set(names))


def dummy(name: str) -> str:
    """A value of the right shape for a SWITCHBOARD_* variable whose value is known only on AWS."""
    if name.endswith("DATABASE__URL"):
        return "postgres://switchboard:secret@db.internal:5432/switchboard"
    if name.endswith("REDIS_URL"):
        return "redis://redis.internal:6379"
    if name.endswith(("_SECS", "_MS", "_SIZE", "_CONNECTIONS")):
        return "10"
    if name.endswith(("_ON_START", "PATH_STYLE")):
        return "false"
    if name.endswith("PROVIDER"):
        return "cognito"
    if name.endswith("BACKEND"):
        return "s3"
    if name.endswith("LISTEN"):
        return "0.0.0.0:8080"
    if name.endswith("LOG_FORMAT"):
        return "json"
    return "x"


def check_node(module: Dir, binary: Path) -> None:
    names = task_env_names(module)
    if not names:
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env.update({n: dummy(n) for n in names})
    env.update(RUST_BACKTRACE="0", RUST_LIB_BACKTRACE="0")
    with tempfile.TemporaryDirectory() as cwd:
        run = subprocess.run([str(binary), "config"], cwd=cwd, env=env, capture_output=True, text=True)
    if run.returncode != 0:
        why = " ".join(run.stderr.split("Stack backtrace:")[0].split())
        problem(module.path / "ecs.tf", f"the node refuses the task's SWITCHBOARD_* variables: {why}")
    helptext = subprocess.run([str(binary), "--help"], capture_output=True, text=True).stdout
    commands = {"migrate"}
    ecs = (module.path / "ecs.tf").read_text()
    # The image installs the node as /usr/local/bin/switchboard (Dockerfile).
    m = re.search(r'command\s*=\s*\["CMD",\s*"/usr/local/bin/switchboard",\s*"([a-z-]+)"', ecs)
    if not m:
        problem(module.path / "ecs.tf", 'no container health check of the form ["CMD", "/usr/local/bin/switchboard", SUBCOMMAND]')
    else:
        commands.add(m.group(1))
    for c in sorted(commands):
        if not re.search(rf"^\s+{c}\b", helptext, re.M):
            problem(module.path / "ecs.tf", f"the node has no `{c}` subcommand (switchboard --help)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--node", type=Path, help="a switchboard binary to check the task's SWITCHBOARD_* variables against")
    args = parser.parse_args()

    module = Dir(MODULE)
    check_variables(module)
    check_drain(module)
    check_metrics(module)
    if not ROOTS:
        problem(HERE / "examples", "no example root")
    for path in ROOTS:
        root = Dir(path)
        check_variables(root)
        check_module_calls(root)
    check_skips()
    if args.node:
        check_node(module, args.node)

    files = len(list(HERE.rglob("*.tf")))
    for p in problems:
        print(p)
    print(f"terraform check: {files} files, {len(module.variables)} module variables, "
          f"{len(module.outputs)} module outputs, {len(ROOTS)} example root(s): "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
