"""Attribute docstrings: the string literal right below a field, read from the source.

Python keeps no such string at run time, yet corral's field docstrings are the text of
three generated documents: the config reference (`_supervisor/config/reference.py`),
the state table (`_lifecycle/doc.py`) and the API's OpenAPI descriptions
(`_control/server/openapi.py`). They all read them here.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import textwrap


def attribute_docs(cls: type) -> dict[str, str]:
    """Name -> the docstring below each `name: T`, `name: T = v` or `NAME = v` of a class,
    on one line (whitespace collapsed)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body if isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for stmt, after in itertools.pairwise(body):
        target: ast.expr | None = stmt.target if isinstance(stmt, ast.AnnAssign) else None
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target = stmt.targets[0]
        if not (isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)):
            continue
        if isinstance(target, ast.Name) and isinstance(after.value.value, str):
            docs[target.id] = " ".join(after.value.value.split())
    return docs
