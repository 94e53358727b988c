"""Layer and purity rules that import-linter cannot express, checked on the source's AST.

- Only `_platform/` touches the kernel directly: no ctypes, fcntl or resource, no
  os.fork / os.exec* / os.posix_spawn, no "/proc" or "/sys/fs/cgroup" paths elsewhere.
- Pure modules decide without effects: no asyncio, time, os or random imports.
- Internal modules import the module that defines a name, never the `corral` façade.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "corral"
PLATFORM = SRC / "_platform"

KERNEL_MODULES = {"ctypes", "fcntl", "resource"}
KERNEL_OS_CALLS = ("fork", "forkpty", "exec", "posix_spawn")
KERNEL_PATHS = ("/proc", "/sys/fs/cgroup")
IMPURE_MODULES = {"asyncio", "time", "os", "random"}
PURE = [
    "_lifecycle",
    "_coordinate/hashing.py",
    "_supervisor/model",
    "_supervisor/view.py",
    "_process/exit.py",
    "_process/outcome.py",
    "_process/retry.py",
    "_process/result.py",
]
"""Modules (files, or packages as directories) that decide without effects. Only what
exists: an entry that matches no file fails, so add a module here when it lands."""
CHILD_PROGRAMS = [SRC / "_process" / "fake_main.py"]
"""Programs corral runs as children and never imports (`corral.testing`'s fake): they are
what a test's program does, not corral's code, so the kernel rule does not apply."""
KEEPER = SRC / "_keeper" / "keeper.py"
"""The keeper process (decision 0020): a program of its own whose resident memory counts,
so it imports the standard library only, not `_platform`, and makes its few kernel calls
(prctl, /proc/self/task, posix_spawn, RLIMIT_NOFILE) itself."""
FACADES = {"corral"} | {f"corral.{p.stem}" for p in SRC.glob("*.py") if not p.name.startswith("_")}
"""The public façade modules: `corral` and every public module beside it."""


def sources(root: Path) -> list[Path]:
    return sorted(root.rglob("*.py")) if root.is_dir() else [root] if root.exists() else []


def relative(path: Path) -> str:
    return str(path.relative_to(SRC)) if SRC in path.parents else path.name


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def imported_modules(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, module) for every import, including `from x import y` as x and x.y."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (they may mention /proc)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
        # attribute docstrings: a bare string right after an assignment
        if isinstance(node, ast.Module | ast.ClassDef):
            for statement in node.body:
                if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
                    found.add(id(statement.value))
    return found


def kernel_uses(path: Path) -> Iterator[str]:
    tree = parse(path)
    for line, module in imported_modules(tree):
        root = module.split(".")[0]
        if root in KERNEL_MODULES:
            yield f"{relative(path)}:{line} imports {module}"
        if root == "os" and module.startswith(tuple(f"os.{c}" for c in KERNEL_OS_CALLS)):
            yield f"{relative(path)}:{line} imports {module}"
    skip = docstrings(tree)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
            and node.attr.startswith(KERNEL_OS_CALLS)
        ):
            yield f"{relative(path)}:{node.lineno} calls os.{node.attr}"
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in skip
            and node.value.startswith(KERNEL_PATHS)
        ):
            yield f"{relative(path)}:{node.lineno} names the path {node.value!r}"


def outside_platform() -> list[Path]:
    exempt = [*CHILD_PROGRAMS, KEEPER]
    return [p for p in sources(SRC) if PLATFORM not in p.parents and p not in exempt]


def test_child_programs_exist_and_nothing_imports_them() -> None:
    assert all(path.is_file() for path in CHILD_PROGRAMS)
    names = {"corral." + ".".join(p.relative_to(SRC).with_suffix("").parts) for p in CHILD_PROGRAMS}
    importers = [
        f"{relative(path)}:{line} imports {module}"
        for path in sources(SRC)
        for line, module in imported_modules(parse(path))
        if module in names
    ]
    assert importers == []


def test_only_the_platform_layer_touches_the_kernel() -> None:
    found = [use for path in outside_platform() for use in kernel_uses(path)]
    assert found == []


def test_the_kernel_check_catches_what_it_should(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""Reads /proc docs."""\nimport ctypes\nimport os\nfrom os import execv\n'
        'os.fork()\nos.posix_spawnp\nPATH = f"/proc/{1}/stat"\nCG = "/sys/fs/cgroup/x"\n'
    )
    found = sorted(use.split(" ", 1)[1] for use in kernel_uses(sample))
    assert found == [
        "calls os.fork",
        "calls os.posix_spawnp",
        "imports ctypes",
        "imports os.execv",
        "names the path '/proc/'",
        "names the path '/sys/fs/cgroup/x'",
    ]


@pytest.mark.parametrize("pure", PURE)
def test_pure_modules_have_no_effects(pure: str) -> None:
    checked = sources(SRC / pure)
    assert checked, f"PURE lists {pure}, which matches no file under src/corral"
    found = [
        f"{relative(path)}:{line} imports {module}"
        for path in checked
        for line, module in imported_modules(parse(path))
        if module.split(".")[0] in IMPURE_MODULES
    ]
    assert found == []


def test_internal_modules_never_import_a_facade() -> None:
    found = [
        f"{relative(path)}:{line} imports {module}"
        for path in sources(SRC)
        if relative(path).startswith("_")
        for line, module in imported_modules(parse(path))
        if module in FACADES or module.rsplit(".", 1)[0] in FACADES - {"corral"}
    ]
    assert found == []


def test_the_scan_sees_the_source() -> None:
    assert (SRC / "__init__.py").exists()
    assert sources(PLATFORM)
    assert len(outside_platform()) > 10


def test_the_facade_list_is_the_public_modules_that_exist() -> None:
    assert {"corral", "corral.lowlevel", "corral.sandbox"} <= FACADES
    assert all((SRC / f"{name.split('.')[1]}.py").is_file() for name in FACADES - {"corral"})
