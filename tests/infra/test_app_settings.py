"""The app settings the template gives the Function App are the ones the code reads, and hold no secret.

The settings the code reads are found in the code by the collector of
tests/failures/test_settings_documented.py (reads of os.environ / getenv / env mappings by literal,
loop-bound, f-string and allow-list names). The template's are the keys of the ``appsettings`` config
resource in infra/app/function-app.bicep. Every setting the code reads is set by the template or listed
under "Optional settings" in infra/README.md; every setting the template sets is read by the code or
by the platform (a typo in a name would otherwise go unnoticed until a run failed in Azure).
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

from shared.dataverse.settings import DataverseSettings
from shared.settings import INPUTS, STAGINGS, TARGETS, holds_secret
from shared.sources.worketc.soap import WorketcSoapSettings
from shared.staging.blob import BlobStaging
from shared.staging.location import open_staging, parse_connection_string
from tests.failures.test_settings_documented import SCANNED, settings_read

from .bicep import INFRA, ROOT, bicep_files, evaluate, object_keys, parse, properties, string_value, text

FUNCTION_APP = INFRA / "app" / "function-app.bicep"

#: settings the template sets for the platform, not for the engine's code: who reads each
PLATFORM_SETTINGS = {
    # https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity
    "AzureWebJobsStorage__accountName": "Functions host",
    "AzureWebJobsStorage__credential": "Functions host",
    "AzureWebJobsStorage__clientId": "Functions host",
    # https://learn.microsoft.com/azure/azure-functions/functions-app-settings
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "Functions host and Python worker",
    "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "Python worker",
    # azure-identity's DefaultAzureCredential (staging container URL, Key Vault secret URI)
    "AZURE_CLIENT_ID": "azure-identity",
    # named by the storageProvider's connectionStringName (Durable Task Scheduler)
    "DURABLE_TASK_SCHEDULER_CONNECTION_STRING": "Durable extension",
}
#: overrides of host.json
#: (https://learn.microsoft.com/azure/azure-functions/functions-host-json#override-hostjson-values)
HOST_JSON_OVERRIDE = "AzureFunctionsJobHost__"

#: example values of function-app.bicep's parameters and of what it reads from existing resources
EXAMPLE = {
    "dataverseUrl": "https://contoso.crm.dynamics.com",
    "dataverseUrls": "https://contoso-test.crm.dynamics.com,https://contoso-uat.crm4.dynamics.com",
    "sharePointSiteUrl": "https://contoso.sharepoint.com/sites/crm",
    "worketcWsdlUrl": "https://contoso.worketc.com/xml?wsdl",
    "worketcEmail": "admin@contoso.com",
    "keyVaultUri": "https://kv-token.vault.azure.net/",
    "worketcPasswordSecretName": "worketc-password",
    "stagingContainerUrl": "https://stgtoken.blob.core.windows.net/staging",
    "identityClientId": "00000000-0000-0000-0000-0000000000c1",
    "durableTaskSchedulerEndpoint": "https://dts-token.westeurope.durabletask.io",
    "durableTaskHubName": "migrationhub",
    "hostStorage.name": "sttoken",
    "applicationInsights.properties.ConnectionString": "InstrumentationKey=00000000-0000-0000-0000-000000000000",
}


def code_settings() -> dict[str, str]:
    """Setting name -> a file of the code that reads it."""
    return {name: str(path.relative_to(ROOT)) for path in SCANNED for name in settings_read(path)}


def template_settings() -> dict:
    """Every app setting the template may set -> its value node (each optional group included)."""
    bf = parse(FUNCTION_APP)
    [config] = [d for d in bf.of_kind("resource").values()
                if bf.string_of(d).startswith("Microsoft.Web/sites/config@")
                and string_value(properties(bf.body(d)).get("name")) == "appsettings"]
    return object_keys(bf, properties(bf.body(config))["properties"])


def template_values() -> dict[str, str]:
    bf = parse(FUNCTION_APP)
    return {name: evaluate(bf, node, EXAMPLE) for name, node in template_settings().items()}


def optional_settings() -> set[str]:
    """The names in the first column of infra/README.md's "Optional settings" table."""
    readme = (INFRA / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Optional settings\n(.*?)(?=^## |\Z)", readme, re.S | re.M)
    assert section, "infra/README.md has no '## Optional settings' section"
    rows = [line.split("|")[1] for line in section.group(1).splitlines() if line.startswith("| `")]
    return {name for cell in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cell)}


def test_every_setting_the_code_reads_is_set_by_the_template_or_listed_as_optional():
    read = code_settings()
    assert {"DATAVERSE_URL", "STAGING_CONNECTION", "SHAREPOINT_SITE_URL", "WORKETC_PAGE_SIZE"} <= set(read)
    covered = set(template_settings()) | optional_settings()
    missing = sorted(f"{name} ({where})" for name, where in read.items() if name not in covered)
    assert not missing, ("read by the code, neither set by infra/app/function-app.bicep nor listed under "
                         "'Optional settings' in infra/README.md: " + ", ".join(missing))


def test_every_setting_the_template_sets_is_read_by_the_code_or_the_platform():
    read = set(code_settings())
    unknown = sorted(name for name in template_settings() if name not in read and name not in PLATFORM_SETTINGS
                     and not name.startswith(HOST_JSON_OVERRIDE))
    assert not unknown, f"set by the template, read by nothing: {unknown}"


def test_every_optional_setting_listed_is_one_the_code_reads():
    stale = sorted(optional_settings() - set(code_settings()))
    assert not stale, f"infra/README.md lists settings no code reads: {stale}"


def test_host_json_overrides_name_a_section_host_json_has():
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    overrides = [n for n in template_settings() if n.startswith(HOST_JSON_OVERRIDE)]
    assert overrides
    for name in overrides:
        section, node = name.removeprefix(HOST_JSON_OVERRIDE).split("__")[:-1], host
        for key in section[:2]:  # extensions__durableTask: the section exists; deeper keys may be new
            assert key in node, f"{name}: host.json has no {key!r}"
            node = node[key]


class _NoToken:
    """A token credential that is never asked: opening staging does not go to the network."""

    def get_token(self, *scopes, **kwargs):
        raise AssertionError("no token is needed to open staging")


def test_the_settings_are_what_the_engine_accepts():
    """The template's values, with example parameters, through the code that reads them in Azure."""
    env = template_values()
    assert None not in env.values(), [n for n, v in env.items() if v is None]
    dataverse = DataverseSettings.from_env(env)
    [identity] = dataverse.identities
    assert identity.managed_identity and identity.managed_identity_client_id == EXAMPLE["identityClientId"]
    assert TARGETS.pick("DATAVERSE_URL", env) == EXAMPLE["dataverseUrl"]
    assert TARGETS.pick("https://contoso-uat.crm4.dynamics.com", env)
    assert INPUTS["worketc-soap"].pick(None, env) == EXAMPLE["worketcWsdlUrl"]
    assert WorketcSoapSettings.from_env(env).email == EXAMPLE["worketcEmail"]
    # staging: a container URL, reached with the managed identity (AZURE_CLIENT_ID), never a key
    setting = STAGINGS.pick(None, env)
    assert parse_connection_string(env[setting]) is None
    staging = open_staging(env[setting], credential=_NoToken(), create=False)
    assert isinstance(staging, BlobStaging) and staging.container.container_name == "staging"
    assert env["AZURE_CLIENT_ID"] == EXAMPLE["identityClientId"]


def test_a_setting_holding_a_secret_is_a_key_vault_reference():
    """What the code's own masking takes for a secret (shared/settings.py) is never a value in the
    template: App Service resolves the reference with the managed identity."""
    values = template_values()
    secrets = {name for name, value in values.items() if holds_secret(f"{name}={value}")}
    assert "WORKETC_PASSWORD" in secrets
    for name in secrets:
        assert re.fullmatch(r"@Microsoft\.KeyVault\(SecretUri=https://[\w-]+\.vault\.azure\.net/secrets/[\w-]+\)",
                            values[name]), name


def _bodies(kind: str):
    for path in bicep_files():
        bf = parse(path)
        for d in bf.of_kind("resource").values():
            if bf.string_of(d).startswith(kind + "@") and "existing" not in {c.type for c in d.node.children}:
                yield path, properties(properties(bf.body(d)).get("properties"))


def test_no_key_is_read_or_allowed_anywhere():
    for path in bicep_files():
        bf = parse(path)
        calls = [text(n.child_by_field_name("function")) for n in bf.nodes("call_expression")]
        assert not [c for c in calls if c.startswith("list")], f"{path.name} reads keys: {calls}"
        assert not re.search(r"AccountKey|SharedAccessSignature", path.read_text(encoding="utf-8"))
    accounts = list(_bodies("Microsoft.Storage/storageAccounts"))
    vaults = list(_bodies("Microsoft.KeyVault/vaults"))
    assert accounts and vaults
    assert all(text(props["allowSharedKeyAccess"]) == "false" for _, props in accounts)
    assert all(text(props["enableRbacAuthorization"]) == "true" for _, props in vaults)


def test_staged_data_and_exports_are_deleted_after_the_retention_parameter():
    main = parse(INFRA / "main.bicep")
    staging = main.declarations["stagingStorage"]
    params = properties(properties(main.body(staging))["params"])
    containers, deleted = evaluate(main, params["containers"]), evaluate(main, params["deleteAfterContainers"])
    assert {"staging", "imports"} <= set(containers) and set(deleted) == set(containers)
    assert text(params["deleteAfterDays"]) == "stagingRetentionDays"
    assert main.declarations["stagingRetentionDays"].kind == "param"
    # the Function App stages in that account's staging container
    app = properties(properties(main.body(main.declarations["functionApp"]))["params"])
    endpoint = {"stagingStorage.outputs.blobEndpoint": "https://stg.blob.core.windows.net/"}
    url = evaluate(main, app["stagingContainerUrl"], endpoint)
    assert url == "https://stg.blob.core.windows.net/staging"


#: the longest functionTimeout each plan allows (None: no maximum)
#: https://learn.microsoft.com/azure/azure-functions/functions-scale#timeout
PLAN_TIMEOUT = {"FC1": None, "EP1": None, "EP2": None, "EP3": None, "Y1": timedelta(minutes=10)}


def test_host_json_timeout_fits_the_plan_the_template_deploys():
    hours, minutes, seconds = map(int, json.loads((ROOT / "host.json").read_text())["functionTimeout"].split(":"))
    timeout = timedelta(hours=hours, minutes=minutes, seconds=seconds)
    bf = parse(FUNCTION_APP)
    [plan] = [d for d in bf.of_kind("resource").values() if bf.string_of(d).startswith("Microsoft.Web/serverfarms@")]
    sku = string_value(properties(properties(bf.body(plan))["sku"])["name"])
    assert PLAN_TIMEOUT[sku] is None or timeout <= PLAN_TIMEOUT[sku]
    assert timeout > PLAN_TIMEOUT["Y1"], "host.json fits the Consumption plan again: update infra/README.md"


def test_every_setting_the_template_sets_is_in_infra_readme():
    readme = (INFRA / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## App settings the template sets\n(.*?)(?=^## )", readme, re.S | re.M).group(1)
    listed = set(re.findall(r"`(\w+)`", section))
    assert not sorted(set(template_settings()) - listed)
