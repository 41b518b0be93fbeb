"""Every setting the code reads from the environment is documented in README.md.

The names are found in the code, not listed here: reads of ``os.environ`` / ``os.getenv`` / an ``env``
mapping by a literal name; by a variable bound in a loop or comprehension over literals or over a
module-level table of them (``for key, ... in [("DATAVERSE_BATCH_SIZE", ...)]: e.get(key)``,
``_number(env, name) for name in _NUMBERS``, also through a function's parameter); f-string names
(``f"DATAVERSE_CLIENT_ID{n}"``; ``f"WORKETC_{name.upper()}"`` over a settings class's fields); and
classes that read the settings their instances name (``AllowList(..., "DATAVERSE_URL", "DATAVERSE_URLS")``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
SCANNED = [*sorted((ROOT / "shared").rglob("*.py")), *sorted((ROOT / "cli").rglob("*.py")),
           ROOT / "function_app.py", *sorted((ROOT / "activities").rglob("*.py"))]
NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
ENVIRONMENTS = {"environ", "env", "e"}  # what the code calls a mapping of environment variables


def _is_environment(node: ast.AST) -> bool:
    return (isinstance(node, ast.Name) and node.id in ENVIRONMENTS) or \
        (isinstance(node, ast.Attribute) and node.attr == "environ")


def _reads(tree: ast.AST):
    """(the expression naming the variable, the node) for every environment read."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and _is_environment(node.value):
            yield node.slice, node
        elif isinstance(node, ast.Call) and node.args:
            f = node.func
            if (isinstance(f, ast.Attribute) and f.attr == "get" and _is_environment(f.value)) or \
                    (isinstance(f, ast.Attribute) and f.attr == "getenv"):
                yield node.args[0], node


def _literals(node: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and NAME.match(n.value)}


def _bound(name: str, target: ast.AST) -> bool:
    return name in {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}


def settings_read(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    tables = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign | ast.AnnAssign) and node.value
              for t in (node.targets if isinstance(node, ast.Assign) else [node.target]) if isinstance(t, ast.Name)}

    def ancestors(node: ast.AST):
        while node in parents:
            node = parents[node]
            yield node

    def enclosing(node: ast.AST, kind: type) -> ast.AST | None:
        return next((a for a in ancestors(node) if isinstance(a, kind)), None)

    def values_of(name: str, at: ast.AST, seen: frozenset = frozenset()) -> set[str]:
        """The names a variable may hold where it is used: from the loop or comprehension binding it
        (its iterable's literals, or a module-level table's), or from every call passing it in."""
        for a in ancestors(at):
            loops = [(a.target, a.iter)] if isinstance(a, ast.For) else \
                [(g.target, g.iter) for g in getattr(a, "generators", [])]
            for target, iterable in loops:
                if _bound(name, target):
                    found = _literals(iterable)
                    for n in ast.walk(iterable):
                        if isinstance(n, ast.Name) and n.id in tables:
                            found |= _literals(tables[n.id])
                    return found
            if isinstance(a, ast.FunctionDef | ast.AsyncFunctionDef):
                params = [p.arg for p in a.args.args]
                if name not in params or (a.name, name) in seen:  # not a parameter, or a recursive call
                    return set()
                found = set()
                for call in ast.walk(tree):
                    called = getattr(call, "func", None)
                    if isinstance(call, ast.Call) and getattr(called, "id", getattr(called, "attr", None)) == a.name:
                        at_ = params.index(name)
                        arg = call.args[at_] if at_ < len(call.args) else \
                            next((k.value for k in call.keywords if k.arg == name), None)
                        if isinstance(arg, ast.Name):
                            found |= values_of(arg.id, call, seen | {(a.name, name)})
                        elif arg is not None:
                            found |= _literals(arg)
                return found
        return set()

    found: set[str] = set()
    self_reading: set[str] = set()  # classes reading the settings named by their own fields
    for arg, node in _reads(tree):
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and NAME.match(arg.value):
            found.add(arg.value)
        elif isinstance(arg, ast.JoinedStr) and isinstance(arg.values[0], ast.Constant):
            prefix = arg.values[0].value
            cls = enclosing(node, ast.ClassDef)
            if prefix.endswith("_") and cls is not None:  # f"WORKETC_{name.upper()}" over the fields
                found |= {prefix + s.target.id.upper() for s in cls.body
                          if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)}
            else:  # f"DATAVERSE_CLIENT_ID{n}": the name and its numbered variants
                found.add(prefix)
        elif isinstance(arg, ast.Name):
            found |= values_of(arg.id, node)
        elif isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name) and arg.value.id == "self":
            cls = enclosing(node, ast.ClassDef)
            if cls is not None:
                self_reading.add(cls.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in self_reading:
            found |= set().union(*(_literals(a) for a in [*node.args, *(k.value for k in node.keywords)]))
    return found


def test_every_setting_the_code_reads_is_in_the_readme():
    read = {name: path.relative_to(ROOT) for path in SCANNED for name in settings_read(path)}
    # the scanner finds each kind of read (a scanner that finds nothing would pass vacuously)
    assert {"SHAREPOINT_SITE_URL", "DATAVERSE_BATCH_SIZE", "DATAVERSE_CLIENT_ID", "WORKETC_PAGE_SIZE",
            "DATAVERSE_URLS", "SHAREPOINT_UPLOAD_CONCURRENCY"} <= set(read)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = sorted(f"{name} ({where})" for name, where in read.items() if not re.search(rf"\b{name}\b", readme))
    assert not missing, "settings read by the code but not in README.md: " + ", ".join(missing)
