"""Every template in infra/ is Bicep a compiler would accept, as far as a parse tree shows (see bicep.py
for what is and is not checked), and azd finds what azure.yaml and main.parameters.json name."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from .bicep import INFRA, ROOT, bicep_files, parse, parse_source, problems


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: str(p.relative_to(INFRA)))
def test_the_template_parses_and_every_name_module_and_resource_checks_out(path):
    assert problems(parse(path)) == []


def test_there_are_templates_to_check():
    names = {str(p.relative_to(INFRA)) for p in bicep_files()}
    assert {"main.bicep", "app/function-app.bicep", "core/storage-account.bicep", "rbac/storage.bicep"} <= names


BROKEN = {
    "unbalanced": ("param a string\nresource r 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: a\n",
                   "missing '}'"),
    "undeclared": ("param a string\noutput o string = '${a}-${b}'\n", "'b' is not declared"),
    "unused": ("param a string\nparam unused string\noutput o string = a\n", "param 'unused' is never used"),
    "no api version": ("resource r 'Microsoft.Storage/storageAccounts' = {\n  name: 'x'\n}\n",
                       "does not name 'Namespace.Provider/type@api-version'"),
    "missing module": ("module m 'core/nowhere.bicep' = {\n  name: 'm'\n}\n", "core/nowhere.bicep does not exist"),
    "unknown module parameter": (
        "module m 'core/identity.bicep' = {\n  name: 'm'\n  params: {\n    name: 'x'\n    location: 'y'\n"
        "    colour: 'z'\n  }\n}\n", "passes 'colour', which identity.bicep does not declare"),
    "required module parameter left out": (
        "module m 'core/identity.bicep' = {\n  name: 'm'\n  params: {\n    name: 'x'\n  }\n}\n",
        "does not pass the required parameter 'location'"),
    "unknown module output": (
        "module m 'core/identity.bicep' = {\n  name: 'm'\n  params: {\n    name: 'x'\n    location: 'y'\n  }\n}\n"
        "output o string = m.outputs.colour\n", "identity.bicep has no output 'colour'"),
    "registry module": ("module m 'br/public:avm/res/web/site:0.15.1' = {\n  name: 'm'\n}\n", "comes from a registry"),
}


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_the_checks_catch_what_a_compiler_would_refuse(case):
    """The checks are not vacuous: each kind of mistake is reported, naming file and line."""
    source, message = BROKEN[case]
    found = problems(parse_source(source, INFRA / "broken.bicep"))
    assert any(message in p and p.startswith("infra/broken.bicep:") for p in found), found


def _azd_parameters() -> dict:
    return json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]


def test_the_parameters_file_gives_every_required_parameter_and_only_declared_ones():
    main = parse(INFRA / "main.bicep").of_kind("param")
    given = _azd_parameters()
    assert set(given) <= set(main), f"not parameters of main.bicep: {sorted(set(given) - set(main))}"
    assert {n for n, d in main.items() if d.required} <= set(given)
    # azd substitutes ${NAME} / ${NAME=default} from the environment (azd env set NAME value)
    for name, entry in given.items():
        assert re.fullmatch(r"\$\{[A-Z][A-Z0-9_]*(=[^}]*)?\}", entry["value"]), name


def test_azure_yaml_deploys_this_function_app_with_these_templates():
    spec = yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))
    assert (ROOT / spec["infra"]["path"] / f"{spec['infra']['module']}.bicep").is_file()
    [(name, service)] = spec["services"].items()
    assert (service["language"], service["host"]) == ("python", "function")
    project = ROOT / service["project"]
    assert all((project / f).is_file() for f in ("function_app.py", "host.json", "requirements.txt"))
    # azd finds the app by the tag azd-service-name = the service's name
    assert f"'azd-service-name': '{name}'" in (INFRA / "app" / "function-app.bicep").read_text(encoding="utf-8")
