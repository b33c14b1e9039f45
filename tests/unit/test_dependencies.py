"""The dependency files: every distribution the deployed code imports is declared in
requirements.in, and each lock (`make lock`) still pins what its .in file asks for."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DEPLOYED = [ROOT / "function_app.py", *(ROOT / "functions").rglob("*.py"),
            *(ROOT / "messenger_channel").rglob("*.py")]
LOCAL_PACKAGES = {"function_app", "functions", "messenger_channel"}
# Each .in file and the lock `make lock` compiles it into.
LOCKS = {"requirements.in": "requirements.txt", "requirements-dev.in": "requirements-dev.txt",
         "bench/requirements.in": "bench/requirements.txt",
         "requirements-tools.in": "requirements-tools.txt"}


def declared(in_file: Path) -> dict[str, Requirement]:
    """The requirements an .in file lists itself (its -r includes and -c constraints aside)."""
    found: dict[str, Requirement] = {}
    for line in in_file.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if text and not text.startswith("-"):
            requirement = Requirement(text)
            found[canonicalize_name(requirement.name)] = requirement
    return found


def pinned(lock: Path) -> dict[str, str]:
    return {canonicalize_name(name): version for name, version in
            re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(\S+)", lock.read_text(),
                       re.MULTILINE)}


def direct_in_lock(lock: Path, in_name: str) -> set[str]:
    """The names the lock says it pins because the .in file asked (`# via -r <in file>`)."""
    names: set[str] = set()
    for block in re.split(r"\n(?=[A-Za-z0-9])", lock.read_text()):
        name = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==", block)
        if name and re.search(rf"#\s+(?:via )?-r {re.escape(in_name)}$", block, re.MULTILINE):
            names.add(canonicalize_name(name.group(1)))
    return names


def imported_modules(paths: list[Path]) -> dict[str, set[str]]:
    """Every absolute import (function-level ones too) → the files that make it."""
    modules: dict[str, set[str]] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                modules.setdefault(name, set()).add(path.name)
    return modules


def distribution_of(module: str) -> str | None:
    """The installed distribution that provides ``module``; a namespace package (``azure``)
    shared by several is told apart by who installed the module's own file."""
    candidates = set(importlib.metadata.packages_distributions().get(module.split(".")[0], []))
    if len(candidates) <= 1:
        return next(iter(candidates), None)
    parts = module.split(".")
    for depth in range(len(parts), 1, -1):
        prefix = "/".join(parts[:depth])
        owners = {name for name in candidates if any(
            str(file) in (f"{prefix}.py", f"{prefix}/__init__.py")
            for file in importlib.metadata.distribution(name).files or [])}
        if len(owners) == 1:
            return owners.pop()
    return None


def undeclared_imports(paths: list[Path], declared_names: set[str]) -> dict[str, str]:
    """Third-party modules the files import whose distribution is not declared → why."""
    problems: dict[str, str] = {}
    for module, files in sorted(imported_modules(paths).items()):
        top = module.split(".")[0]
        if top in sys.stdlib_module_names or top in LOCAL_PACKAGES or top == "__future__":
            continue
        distribution = distribution_of(module)
        if distribution is None:
            problems[module] = f"no installed distribution provides it (in {sorted(files)})"
        elif canonicalize_name(distribution) not in declared_names:
            problems[module] = f"{distribution} is not in requirements.in (in {sorted(files)})"
    return problems


def test_every_distribution_the_deployed_code_imports_is_declared_in_requirements_in() -> None:
    assert undeclared_imports(DEPLOYED, set(declared(ROOT / "requirements.in"))) == {}


def test_an_undeclared_import_is_reported_with_its_distribution(tmp_path: Path) -> None:
    code = tmp_path / "module.py"
    code.write_text("import os\nfrom starlette.types import Scope\n\n"
                    "def later() -> None:\n    import azure.core.exceptions\n")
    missing = undeclared_imports([code], {"azure-functions"})
    assert set(missing) == {"starlette.types", "azure.core.exceptions"}
    assert missing["azure.core.exceptions"].startswith("azure-core is not in requirements.in")


@pytest.mark.parametrize("in_name", sorted(LOCKS))
def test_the_lock_pins_exactly_what_its_in_file_declares(in_name: str) -> None:
    wanted = declared(ROOT / in_name)
    lock = ROOT / LOCKS[in_name]
    pins = pinned(lock)
    stale = {name: str(requirement.specifier) for name, requirement in wanted.items()
             if name not in pins or not requirement.specifier.contains(pins[name],
                                                                       prereleases=True)}
    assert stale == {}, f"{lock.name} is stale against {in_name}: run `make lock`"
    # A name dropped from the .in file is still pinned as a direct dependency until relocked.
    assert direct_in_lock(lock, in_name) == set(wanted), "run `make lock`"


def test_every_line_of_a_lock_carries_hashes_so_pip_installs_in_hash_checking_mode() -> None:
    for lock in LOCKS.values():
        text = (ROOT / lock).read_text()
        requirements = re.findall(r"^\S+==\S+", text, re.MULTILINE)
        hashed = re.findall(r"^\S+==\S+ \\\n\s+--hash=sha256:", text, re.MULTILINE)
        assert requirements and len(hashed) == len(requirements), lock


def test_the_dev_lock_keeps_the_runtime_pins_and_the_bench_lock_the_dev_pins() -> None:
    runtime, dev = pinned(ROOT / "requirements.txt"), pinned(ROOT / "requirements-dev.txt")
    bench = pinned(ROOT / "bench/requirements.txt")
    assert {name: dev.get(name) for name in runtime} == runtime
    assert {name: version for name, version in bench.items() if name in dev} == {
        name: dev[name] for name in bench if name in dev}
