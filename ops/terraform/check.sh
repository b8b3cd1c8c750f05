#!/usr/bin/env bash
# Static checks of ops/terraform on a machine without Terraform or an AWS account:
#   1. check.py (python-hcl2): every variable declared, typed, documented and used; every module
#      output used by the example; the module call passes only declared and all required
#      variables; the drain against the deregistration delay; with a node binary as $1, the
#      task's SWITCHBOARD_* variables against the node's configuration;
#   2. checkov: any failed check fails the run. Offline checkov has no severities, so every
#      finding is treated as high: fixed, or skipped inline with `#checkov:skip=ID:reason`.
# Installs pinned python-hcl2 and checkov, each in a virtual environment of its own under
# ${OPS_TOOLS_DIR:-~/.cache/switchboard} when missing (they ship conflicting `hcl2` packages,
# and checkov pins boto3/botocore, which must not touch the system's moto).
#
# Usage: ops/terraform/check.sh [path/to/switchboard]
set -euo pipefail
# The node's path as the caller gave it, made absolute before leaving the caller's directory
# (check.py runs it from elsewhere).
node=${1:+$(realpath "$1")}
cd "$(dirname "$0")/../.."
# shellcheck source=ops/services.sh
source ops/services.sh

tools=${OPS_TOOLS_DIR:-$HOME/.cache/switchboard}
HCL2_VERSION=8.1.4
CHECKOV_VERSION=3.3.30

# ensure_venv DIR PACKAGE VERSION: a virtual environment at DIR with PACKAGE==VERSION in it.
ensure_venv() {
  local dir=$1 package=$2 version=$3
  if [ -x "$dir/bin/python" ] && [ "$("$dir/bin/python" -m pip show "$package" 2>/dev/null \
      | sed -n 's/^Version: //p')" = "$version" ]; then
    return 0
  fi
  command -v python3 >/dev/null || die "python3 is not installed (needed for the terraform checks)"
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    echo "installing python3-venv"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; } \
      || die "cannot install python3-venv"
  fi
  echo "installing $package $version into $dir"
  rm -rf "$dir"
  mkdir -p "$(dirname "$dir")"
  python3 -m venv "$dir" || die "cannot create a virtual environment at $dir"
  "$dir/bin/python" -m pip install -q --disable-pip-version-check "$package==$version" \
    || die "cannot install $package $version with pip"
}

ensure_venv "$tools/ops-hcl2" python-hcl2 "$HCL2_VERSION"
ensure_venv "$tools/ops-checkov" checkov "$CHECKOV_VERSION"

if [ -n "$node" ]; then
  [ -x "$node" ] || die "no node binary at $node"
  "$tools/ops-hcl2/bin/python" ops/terraform/check.py --node "$node" || die "ops/terraform/check.py found problems"
else
  "$tools/ops-hcl2/bin/python" ops/terraform/check.py || die "ops/terraform/check.py found problems"
fi

# --skip-download: no call to the vendor's API (unreachable here, and not needed offline).
# --quiet: failed checks and the counts only.
"$tools/ops-checkov/bin/checkov" --directory ops/terraform --framework terraform \
  --skip-download --compact --quiet \
  || die "checkov: failed checks in ops/terraform (fix them or skip inline with a reason)"
