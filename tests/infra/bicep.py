"""Bicep files as parse trees, for tests that read the templates in infra/.

No Bicep compiler can be installed here: the CLI ships as a GitHub release binary or a NuGet package
(``az bicep install`` downloads it), and the npm and PyPI wrappers download it at run time. The
grammar is on PyPI instead: ``tree-sitter-bicep`` (a compiled tree-sitter grammar, pinned in
requirements-dev.txt). A file that parses without an ERROR or MISSING node is syntactically Bicep
(balanced braces and brackets, well-formed declarations, decorators, loops, conditions, lambdas).

What a compiler also checks is done here on the tree, for what these templates use: every name a file
uses is declared in it (parameters, variables, resources, modules, loop variables, lambda parameters);
every parameter and variable is used; every resource type names its API version; every module path
exists and a module gets exactly the parameters it declares (all required ones); every module output
used is declared. Types, property names and API versions are not checked against Azure's schemas:
``az bicep build`` / ``azd provision --preview`` on a machine with the CLI does that.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import tree_sitter
import tree_sitter_bicep

ROOT = Path(__file__).parents[2]
INFRA = ROOT / "infra"
LANGUAGE = tree_sitter.Language(tree_sitter_bicep.language())

#: declaration node -> what it declares; the declared name is the node's first identifier child
DECLARATIONS = {"parameter_declaration": "param", "variable_declaration": "var", "resource_declaration": "resource",
                "module_declaration": "module", "output_declaration": "output", "user_defined_function": "func",
                "type_declaration": "type"}
#: resource types are 'Namespace.Provider/type[/child...]@yyyy-mm-dd[-preview]'
RESOURCE_TYPE = re.compile(r"^[A-Za-z][\w.]*\.[A-Za-z][\w.]*(/[A-Za-z][\w]*)+@\d{4}-\d{2}-\d{2}(-preview)?$")
#: names usable without a declaration: the function namespaces
NAMESPACES = {"az", "sys"}


def text(node: tree_sitter.Node) -> str:
    return node.text.decode("utf-8")


def where(path: Path, node: tree_sitter.Node) -> str:
    line, column = node.start_point
    return f"{path.relative_to(ROOT)}:{line + 1}:{column + 1}"


@dataclass
class Declaration:
    kind: str  # param, var, resource, module, output, func, type
    name: str
    node: tree_sitter.Node  # the declaration

    @property
    def value(self) -> tree_sitter.Node | None:
        """What follows ``=`` (a variable's value, a parameter's default, a resource's body...)."""
        children = self.node.children
        at = next((i for i, c in enumerate(children) if c.type == "="), None)
        return children[at + 1] if at is not None and at + 1 < len(children) else None

    @property
    def required(self) -> bool:
        """A parameter without a default whose type is not nullable (``string?``)."""
        type_ = next((c for c in self.node.children if c.type == "type"), None)
        return self.value is None and not (type_ is not None and text(type_).endswith("?"))


@dataclass
class BicepFile:
    path: Path
    tree: tree_sitter.Tree
    #: what expressions may name (one namespace), and the outputs (a namespace of their own)
    declarations: dict[str, Declaration] = field(default_factory=dict)
    outputs: dict[str, Declaration] = field(default_factory=dict)

    @property
    def root(self) -> tree_sitter.Node:
        return self.tree.root_node

    def of_kind(self, kind: str) -> dict[str, Declaration]:
        return {n: d for n, d in self.declarations.items() if d.kind == kind}

    def nodes(self, *types: str) -> Iterator[tree_sitter.Node]:
        stack = [self.root]
        while stack:
            node = stack.pop()
            if node.type in types:
                yield node
            stack.extend(reversed(node.children))

    def syntax_errors(self) -> list[str]:
        return [f"{where(self.path, n)}: syntax error at {text(n)[:40]!r}" if n.type == "ERROR" else
                f"{where(self.path, n)}: missing {n.type!r}"
                for n in _walk(self.root) if n.type == "ERROR" or n.is_missing]

    def references(self) -> Iterator[tree_sitter.Node]:
        """Every identifier that names something (not a declaration's own name, an object key, a called
        function or decorator, a loop variable or lambda parameter being declared, or a type)."""
        for node in self.nodes("identifier"):
            if not _is_declaring(node):
                yield node

    def locals(self) -> set[str]:
        """Loop variables and lambda parameters (scoped to their loop or lambda; a use outside one is a
        compile error this check does not see)."""
        names = {text(n) for n in self.nodes("loop_variable", "loop_enumerator")}
        for loop in self.nodes("for_statement"):
            initializer = loop.child_by_field_name("initializer")
            if initializer is not None and initializer.type == "identifier":
                names.add(text(initializer))
        for lam in self.nodes("lambda_expression"):
            for child in lam.children:
                if child.type == "=>":
                    break
                names |= {text(n) for n in _walk(child) if n.type == "identifier"}
        return names

    def body(self, declaration: Declaration) -> tree_sitter.Node | None:
        """The object of a resource or module, through ``if (...)`` and ``[for ...: ...]``."""
        node = declaration.value
        while node is not None and node.type != "object":
            if node.type == "for_statement":
                node = node.child_by_field_name("body")
            elif node.type == "if_statement":
                node = next((c for c in node.children if c.type in ("object", "for_statement")), None)
            else:
                return None
        return node

    def string_of(self, declaration: Declaration) -> str:
        """A resource's type or a module's path: the string after its name."""
        return string_value(next(c for c in declaration.node.children if c.type == "string")) or ""


def _walk(node: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    yield node
    for child in node.children:
        yield from _walk(child)


def _is_declaring(node: tree_sitter.Node) -> bool:
    parent = node.parent
    if parent is None:
        return False
    if parent.type in DECLARATIONS:
        return next(c for c in parent.children if c.type == "identifier") == node
    if parent.type == "object_property":
        return parent.children[0] == node
    if parent.type == "call_expression":
        return parent.child_by_field_name("function") == node
    if parent.type == "for_statement":
        return parent.child_by_field_name("initializer") == node
    if parent.type == "lambda_expression":
        arrow = next(i for i, c in enumerate(parent.children) if c.type == "=>")
        return parent.children.index(node) < arrow
    return any(a.type == "type" for a in _ancestors(node))


def _ancestors(node: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    while node.parent is not None:
        node = node.parent
        yield node


def string_value(node: tree_sitter.Node | None) -> str | None:
    """The text of a string literal without interpolations, else None."""
    if node is None or node.type != "string" or any(c.type == "interpolation" for c in node.children):
        return None
    return "".join(text(c) for c in node.children if c.type in ("string_content", "escape_sequence"))


def properties(obj: tree_sitter.Node | None) -> dict[str, tree_sitter.Node]:
    """An object literal's keys -> value nodes."""
    out: dict[str, tree_sitter.Node] = {}
    for prop in (c for c in (obj.children if obj is not None else []) if c.type == "object_property"):
        key = prop.children[0]
        out[text(key) if key.type == "identifier" else string_value(key) or text(key)] = prop.children[-1]
    return out


def parse_source(source: str, path: Path) -> BicepFile:
    parser = tree_sitter.Parser(LANGUAGE)
    bf = BicepFile(path, parser.parse(source.encode("utf-8")))
    for node in bf.nodes(*DECLARATIONS):
        if node.parent is not None and node.parent.type == "infrastructure":
            name = text(next(c for c in node.children if c.type == "identifier"))
            kind = DECLARATIONS[node.type]
            (bf.outputs if kind == "output" else bf.declarations)[name] = Declaration(kind, name, node)
    return bf


@functools.cache
def parse(path: Path) -> BicepFile:
    return parse_source(path.read_text(encoding="utf-8"), path)


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


def module_file(bf: BicepFile, module: Declaration) -> Path | None:
    """The local file a module declaration points at (None for a registry module)."""
    ref = bf.string_of(module)
    return None if ref.startswith(("br:", "br/", "ts:", "ts/")) else (bf.path.parent / ref).resolve()


# ------------------------------------------------------------------------------------------- checks

def problems(bf: BicepFile) -> list[str]:
    """Everything a compiler would refuse (or its linter flag) that these checks see, one line each."""
    found = bf.syntax_errors()
    if found:
        return found
    declared = set(bf.declarations) | bf.locals() | NAMESPACES
    used: set[str] = set()
    for ref in bf.references():
        used.add(text(ref))
        if text(ref) not in declared:
            found.append(f"{where(bf.path, ref)}: {text(ref)!r} is not declared")
    for name, d in bf.declarations.items():
        if d.kind in ("param", "var") and name not in used:
            found.append(f"{where(bf.path, d.node)}: {d.kind} {name!r} is never used")
    for d in bf.of_kind("resource").values():
        found += _resource_problems(bf, d)
    for d in bf.of_kind("module").values():
        found += _module_problems(bf, d)
    found += _output_use_problems(bf)
    return found


def _resource_problems(bf: BicepFile, resource: Declaration) -> list[str]:
    kind = bf.string_of(resource)
    if not RESOURCE_TYPE.match(kind):
        return [f"{where(bf.path, resource.node)}: resource {resource.name!r} type {kind!r} does not name "
                "'Namespace.Provider/type@api-version'"]
    return []


def _module_problems(bf: BicepFile, module: Declaration) -> list[str]:
    path = module_file(bf, module)
    at = where(bf.path, module.node)
    if path is None:
        return [f"{at}: module {module.name!r} comes from a registry; keep modules in this repository"]
    if not path.is_file():
        return [f"{at}: module {module.name!r}: {bf.string_of(module)} does not exist"]
    target = parse(path)
    declared = target.of_kind("param")
    given = properties(properties(bf.body(module)).get("params"))
    found = [f"{at}: module {module.name!r} passes {name!r}, which {path.name} does not declare"
             for name in given if name not in declared]
    found += [f"{at}: module {module.name!r} does not pass the required parameter {name!r} of {path.name}"
              for name, d in declared.items() if d.required and name not in given]
    return found


def _output_use_problems(bf: BicepFile) -> list[str]:
    """``module.outputs.x``: x is an output of the module's file."""
    found = []
    modules = bf.of_kind("module")
    for node in bf.nodes("member_expression"):
        inner = node.child_by_field_name("object")
        if inner is None or inner.type != "member_expression":
            continue
        symbol, middle = inner.child_by_field_name("object"), inner.child_by_field_name("property")
        if symbol is None or middle is None or text(symbol) not in modules or text(middle) != "outputs":
            continue
        path = module_file(bf, modules[text(symbol)])
        output = text(node.child_by_field_name("property"))
        if path is not None and path.is_file() and output not in parse(path).outputs:
            found.append(f"{where(bf.path, node)}: {path.name} has no output {output!r}")
    return found


# ------------------------------------------------------------------------------- reading values

def object_keys(bf: BicepFile, expression: tree_sitter.Node) -> dict[str, tree_sitter.Node]:
    """The keys an object-valued expression may have: object literals, through variables, ``union()``,
    conditions and parentheses (each branch counts). Values are not looked into."""
    node = expression
    if node.type == "object":
        return properties(node)
    if node.type == "identifier" and bf.declarations.get(text(node), None) is not None:
        d = bf.declarations[text(node)]
        if d.kind != "var":
            raise ValueError(f"{where(bf.path, node)}: the keys come from {d.kind} {d.name!r}, which a "
                             "reader of the template cannot see; build them from literals")
        return object_keys(bf, d.value)
    out: dict[str, tree_sitter.Node] = {}
    if node.type == "call_expression":
        for arg in node.child_by_field_name("arguments").named_children:
            out |= object_keys(bf, arg)
    elif node.type in ("ternary_expression", "parenthesized_expression"):
        for child in node.named_children[1:] if node.type == "ternary_expression" else node.named_children:
            out |= object_keys(bf, child)
    return out


def evaluate(bf: BicepFile, node: tree_sitter.Node, known: dict[str, str] | None = None) -> object:
    """A literal value: strings (interpolations of variables evaluated, of anything else looked up in
    ``known`` by their text), numbers, booleans, arrays and objects of those, variables. None where it
    cannot tell."""
    known = known or {}
    if node.type == "string":
        parts = []
        for child in node.children:
            if child.type in ("string_content", "escape_sequence"):
                parts.append(text(child))
            elif child.type == "interpolation":
                inner = child.named_children[0]
                value = evaluate(bf, inner, known)
                if not isinstance(value, str):
                    return None
                parts.append(value)
        return "".join(parts)
    if text(node) in known:
        return known[text(node)]
    if node.type == "number":
        return int(text(node))
    if node.type in ("true", "false", "boolean"):
        return text(node) == "true"
    if node.type == "array":
        return [evaluate(bf, c, known) for c in node.named_children if c.type != "comment"]
    if node.type == "object":
        return {k: evaluate(bf, v, known) for k, v in properties(node).items()}
    if node.type == "identifier":
        d = bf.declarations.get(text(node))
        if d is not None and d.kind == "var":
            return evaluate(bf, d.value, known)
    return None
