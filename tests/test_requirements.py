"""The pins: requirements*.txt name the top-level packages, constraints.txt pins the whole tree
(`make lock`), and what the test run has installed is what constraints.txt says."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;#]+)")


def _name(raw: str) -> str:
    return re.sub(r"[-_.]+", "-", raw.split("[")[0]).lower()


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[_name(match[1])] = match[2]
    return pins


def test_every_top_level_pin_is_the_locked_version():
    locked = _pins(ROOT / "constraints.txt")
    for source in ("requirements.txt", "requirements-dev.txt"):
        for name, version in _pins(ROOT / source).items():
            assert name in locked, f"{source}: {name} is not in constraints.txt (run make lock)"
            assert locked[name] == version, f"{source} pins {name}=={version}, constraints.txt {locked[name]}"


def test_the_installed_packages_are_the_locked_ones():
    locked = _pins(ROOT / "constraints.txt")
    installed = {_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    wrong = {n: (v, locked[n]) for n, v in installed.items() if n in locked and v != locked[n]}
    assert not wrong, f"installed (version, locked): {wrong}"
    missing = [n for n in _pins(ROOT / "requirements-dev.txt") if n not in installed]
    assert not missing


def test_kombus_undeclared_packaging_is_a_runtime_requirement():
    # kombu's Redis transport imports packaging without declaring it (the worker would not start).
    assert "packaging" in _pins(ROOT / "requirements.txt")
