"""What a deployment uploads: the repository less what `.funcignore` leaves out (the same
gitignore-style patterns azd and Core Tools apply). The app and what it reads at run time go;
the local tools, tests, caches and secrets stay home."""

from __future__ import annotations

import fnmatch
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[2]


def ignore_patterns(path: Path) -> list[str]:
    patterns = [line.strip() for line in path.read_text().splitlines()]
    patterns = [p for p in patterns if p and not p.startswith("#")]
    # Only the forms read below; a negation or a path pattern would need a fuller reader.
    unsupported = [p for p in patterns if p.startswith("!") or "/" in p.rstrip("/")]
    assert unsupported == [], f".funcignore patterns this test cannot read: {unsupported}"
    return [p.rstrip("/") for p in patterns]


def ignored(relative: str, patterns: list[str]) -> bool:
    """A name pattern leaves out every file or folder of that name, at any depth."""
    return any(fnmatch.fnmatchcase(part, pattern)
               for part in PurePosixPath(relative).parts for pattern in patterns)


def test_funcignore_leaves_out_local_tools_tests_caches_and_local_state() -> None:
    patterns = ignore_patterns(ROOT / ".funcignore")
    left_out = ["tests/unit/test_x.py", "simulator/app.py", "devhost/server.py", "bench/ingest.py",
                "node_modules/azurite/package.json", ".venv/bin/python",
                ".venv-checkov/bin/python", ".devdata/run.json", "local.settings.json",
                "functions/__pycache__/webhook.cpython-311.pyc",
                "messenger_channel/__pycache__/clock.cpython-311.pyc", "stray.pyc",
                "requirements-dev.txt", "requirements-dev.in", "requirements.in",
                "requirements-tools.txt",
                "bench/requirements.txt", "infra/main.bicep", "docs/DESIGN.md", ".git/HEAD"]
    assert [path for path in left_out if not ignored(path, patterns)] == []


def test_funcignore_keeps_the_app_and_what_it_reads_at_run_time() -> None:
    patterns = ignore_patterns(ROOT / ".funcignore")
    deployed = ["function_app.py", "host.json", "requirements.txt", "console/index.html"]
    deployed += [str(p.relative_to(ROOT)) for folder in ("functions", "messenger_channel")
                 for p in (ROOT / folder).rglob("*.py")]
    assert [path for path in deployed if ignored(path, patterns)] == []


def test_a_name_pattern_matches_at_any_depth_and_nowhere_else() -> None:
    assert ignored("a/b/__pycache__/c.pyc", ["__pycache__"])
    assert not ignored("a/pycache/c.py", ["__pycache__"])
