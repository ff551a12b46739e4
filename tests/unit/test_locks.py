"""The locks CI, `make install` and the image install from (requirements/*.lock, made by `make lock`) pin
every dependency pyproject.toml asks for, at a version its range allows, each with its hashes: a dependency
added or a range changed without renewing the locks fails here."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes)"""
    pins: dict[str, tuple[str, int]] = {}
    current = None
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = _canonical(match.group(1))
            pins[current] = (match.group(2), pins.get(current, ("", 0))[1])
        elif current and "--hash=sha256:" in line:
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
    return pins


def wanted(extras: list[str]) -> list[Requirement]:
    """The project's requirements with these extras, the project's own extras (audit-layer[faust]) expanded."""
    result = [Requirement(r) for r in PROJECT["dependencies"]]
    todo, seen = list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for raw in PROJECT["optional-dependencies"][extra]:
            requirement = Requirement(raw)
            if _canonical(requirement.name) == _canonical(PROJECT["name"]):
                todo += sorted(requirement.extras)
            else:
                result.append(requirement)
    return result


@pytest.mark.parametrize(("lock", "extras"), [("dev", ["dev"]), ("service", []), ("service-embedded", ["embedded"])])
def test_every_requirement_is_pinned_within_its_range_with_hashes(lock: str, extras: list[str]) -> None:
    pins = read_lock(REPO / "requirements" / f"{lock}.lock")
    assert pins, f"requirements/{lock}.lock is empty: run `make lock`"
    for requirement in wanted(extras):
        if requirement.marker is not None and not requirement.marker.evaluate({"python_version": "3.11"}):
            continue
        name = _canonical(requirement.name)
        assert name in pins, f"{requirement} is not in requirements/{lock}.lock: run `make lock`"
        version, _ = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), \
            f"requirements/{lock}.lock pins {name}=={version}, outside {requirement}: run `make lock`"
    unhashed = [name for name, (_, hashes) in pins.items() if hashes == 0]
    assert not unhashed, f"pinned without a hash in requirements/{lock}.lock: {unhashed}"


def test_the_service_image_carries_neither_the_embedded_engine_nor_faust() -> None:
    service = read_lock(REPO / "requirements" / "service.lock")
    assert "chdb" not in service and "faust-streaming" not in service and "aiokafka" not in service
    assert "chdb" in read_lock(REPO / "requirements" / "service-embedded.lock")
    assert {"chdb", "faust-streaming", "pytest", "playwright"} <= set(read_lock(REPO / "requirements" / "dev.lock"))
