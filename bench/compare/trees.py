"""The two source trees a comparison runs: a directory as it is, or a git revision checked out.

A revision goes into a temporary `git worktree` (detached, in a fresh directory under
the temp dir) that `source_trees` removes again on the way out, errors and Ctrl-C
included. A directory is used as it is; the tool only adds, and afterwards removes, a
`.venv` link to the running interpreter's virtualenv where the tree has none, because
`bench.peers` of older trees starts the `corral` console script from `<tree>/.venv/bin/`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
"""The repository this tool lives in; revisions are resolved and checked out from it."""


class TreeError(Exception):
    """A tree that cannot be used: no such revision or directory, or git failed."""


@dataclass(frozen=True, slots=True)
class Tree:
    """One side of the comparison: where its code is, and how to name it in the report."""

    role: str
    """"before" or "after"."""
    given: str
    """The revision or path as given on the command line."""
    root: Path
    """The tree's top directory: its `src/` goes on PYTHONPATH, its `bench/` is run."""
    description: str
    """The commit, and for a directory whether its src/ differs from that commit."""

    @property
    def src(self) -> Path:
        return self.root / "src"

    def env(self) -> dict[str, str]:
        """The environment a benchmark of this tree runs in: PYTHONPATH is its src/ alone."""
        return dict(os.environ, PYTHONPATH=str(self.src))

    def src_state(self) -> str:
        """A digest of HEAD and of the uncommitted changes under src/, to notice edits
        (empty outside a git checkout, where nothing can be noticed)."""
        try:
            head = _git(self.root, "rev-parse", "HEAD")
            diff = _git(self.root, "diff", "HEAD", "--", "src")
            untracked = _git(self.root, "ls-files", "--others", "--exclude-standard", "--", "src")
        except TreeError:
            return ""
        return hashlib.sha256(f"{head}\0{diff}\0{untracked}".encode()).hexdigest()


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise TreeError(f"git {' '.join(args)} in {cwd}: {done.stderr.strip() or 'failed'}")
    return done.stdout.strip()


def _describe_directory(root: Path) -> str:
    try:
        head = _git(root, "rev-parse", "--short", "HEAD")
        dirty = _git(root, "status", "--porcelain", "--", "src")
    except TreeError:
        return f"{root} (not a git checkout)"
    return f"{root} at {head}" + (" + uncommitted changes in src/" if dirty else "")


def _directory(role: str, given: str) -> Tree:
    root = Path(given).resolve()
    if not (root / "src" / "corral").is_dir() or not (root / "bench").is_dir():
        raise TreeError(f"--{role} {given}: not a corral tree (no src/corral/ or bench/)")
    return Tree(role, given, root, _describe_directory(root))


def _checkout(role: str, given: str, scratch: Path, stack: contextlib.ExitStack) -> Tree:
    try:
        commit = _git(REPO, "rev-parse", "--verify", "--quiet", f"{given}^{{commit}}")
    except TreeError:
        raise TreeError(f"--{role} {given}: neither a directory nor a revision of {REPO}") from None
    root = scratch / role
    _git(REPO, "worktree", "add", "--detach", "--quiet", str(root), commit)
    stack.callback(_remove_worktree, root)
    return Tree(role, given, root, f"{commit[:12]} (git worktree {root}, removed afterwards)")


def _remove_worktree(root: Path) -> None:
    done = subprocess.run(
        ["git", "worktree", "remove", "--force", str(root)],
        cwd=REPO,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run(["git", "worktree", "prune"], cwd=REPO, capture_output=True, check=False)


def _link_venv(tree: Tree, stack: contextlib.ExitStack) -> str | None:
    """Give the tree a `.venv` that is this interpreter's; a note if it has another one."""
    link = tree.root / ".venv"
    venv = Path(sys.prefix)
    if link.is_symlink() or link.exists():
        if link.resolve() != venv.resolve():
            return f"{tree.role}: {link} is not {venv}; bench.peers runs that venv's corral script"
        return None
    link.symlink_to(venv, target_is_directory=True)
    stack.callback(link.unlink, missing_ok=True)
    return None


@contextlib.contextmanager
def source_trees(before: str, after: str) -> Iterator[tuple[Tree, Tree, list[str]]]:
    """The two trees (checked out where needed) and notes about them; cleaned up on exit."""
    with contextlib.ExitStack() as stack:
        scratch = Path(tempfile.mkdtemp(prefix="corral-compare-"))
        stack.callback(shutil.rmtree, scratch, ignore_errors=True)
        trees = []
        for role, given in (("before", before), ("after", after)):
            if os.path.isdir(given):
                trees.append(_directory(role, given))
            else:
                trees.append(_checkout(role, given, scratch, stack))
        notes = [note for tree in trees if (note := _link_venv(tree, stack))]
        yield trees[0], trees[1], notes
