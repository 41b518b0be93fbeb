"""SECURITY.md stays true to the code: every HTTP route is in its threat model, none is anonymous, and
every test it names exists."""

from __future__ import annotations

import ast
import json
import re

from .bicep import ROOT

SECURITY = ROOT / "SECURITY.md"


def _app() -> ast.Module:
    return ast.parse((ROOT / "function_app.py").read_text(encoding="utf-8"))


def _auth_level(node: ast.AST) -> str | None:
    """``func.AuthLevel.FUNCTION`` -> ``FUNCTION``."""
    return node.attr if isinstance(node, ast.Attribute) else None


def routes() -> list[tuple[str, str, str | None]]:
    """(method, route, auth_level keyword or None) for every ``@app.route`` in function_app.py."""
    found = []
    for node in ast.walk(_app()):
        for deco in getattr(node, "decorator_list", []):
            if isinstance(deco, ast.Call) and getattr(deco.func, "attr", None) == "route":
                kw = {k.arg: k.value for k in deco.keywords}
                for method in ast.literal_eval(kw["methods"]):
                    found.append((method, ast.literal_eval(kw["route"]), _auth_level(kw.get("auth_level"))))
    return found


def test_no_http_trigger_is_anonymous():
    [app_level] = [_auth_level(k.value) for node in ast.walk(_app()) if isinstance(node, ast.Call)
                   and getattr(node.func, "attr", None) == "DFApp" for k in node.keywords if k.arg == "http_auth_level"]
    assert app_level in ("FUNCTION", "ADMIN")
    assert routes() and all(level in (None, "FUNCTION", "ADMIN") for _, _, level in routes())


def test_every_http_route_is_in_the_threat_model():
    http = json.loads((ROOT / "host.json").read_text()).get("extensions", {}).get("http", {})
    calls = [f"{method} /{http.get('routePrefix', 'api')}/{route}" for method, route, _ in routes()]
    missing = [call for call in calls if call not in SECURITY.read_text(encoding="utf-8")]
    assert not missing, f"SECURITY.md does not say who may call: {missing}"


def test_every_test_security_md_names_exists():
    text = SECURITY.read_text(encoding="utf-8")
    named = re.findall(r"(tests/[\w/]+\.py)(?:::(\w+))?", text)
    assert len(named) >= 20
    for path, test in named:
        file = ROOT / path
        assert file.is_file(), path
        if test:
            assert re.search(rf"^(async )?def {test}\(", file.read_text(encoding="utf-8"), re.M), f"{path}::{test}"
