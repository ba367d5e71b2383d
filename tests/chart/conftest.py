"""Fixtures of the chart tests (scripts/chart-check.sh sets up what they need)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import chartlib  # noqa: E402

# kubernetes-validate reads and parses its (large) schema files on every call; the files never
# change during a run, so parse each once.
import functools  # noqa: E402

import kubernetes_validate.utils as _kv_utils  # noqa: E402

_kv_utils.schema_contents = functools.lru_cache(maxsize=None)(_kv_utils.schema_contents)


@pytest.fixture(scope="session")
def chart():
    c = chartlib.load_chart()
    yield c
    c.close()


@pytest.fixture(scope="session")
def default_objs(chart):
    return chartlib.render(chart=chart)


@pytest.fixture(scope="session")
def vramgate_bin() -> Path:
    """The release binary (VRAMGATE_BIN overrides); scripts/chart-check.sh builds it."""
    path = Path(os.environ.get("VRAMGATE_BIN", chartlib.REPO / "target" / "release" / "vramgate"))
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `bash scripts/chart-check.sh`, which builds it "
                    "(cargo build --release --locked --bin vramgate)")
    return path


def tool(name: str) -> str:
    for d in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/bin", "/usr/sbin"]:
        p = Path(d) / name
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    pytest.fail(f"{name} not found: scripts/chart-check.sh installs it (apt-get install prometheus)")


@pytest.fixture(scope="session")
def promtool() -> str:
    return tool("promtool")


@pytest.fixture(scope="session")
def prometheus_bin() -> str:
    return tool("prometheus")


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    kw.setdefault("timeout", 60)
    return subprocess.run(cmd, capture_output=True, text=True, **kw)
