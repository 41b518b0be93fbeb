"""The validators behind the HTTP boundary and the CLI: run settings, allow-lists, secret masking."""

from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from shared.errors import SettingsError
from shared.objects import SOURCE_KINDS
from shared.run import RunConfig
from shared.settings import INPUTS, STAGINGS, TARGETS, MaskingFilter, RequestRefused, mask_secrets

from .conftest import SECRET_KEY, STAGING_CONNECTION

RUN = dict(run_id="contoso-1", input="/exports/contoso", target="https://contoso.crm.dynamics.com",
           staging="STAGING_CONNECTION")


@pytest.mark.parametrize("text, hidden", [
    (STAGING_CONNECTION, SECRET_KEY),
    ("BlobEndpoint=https://a.blob.core.windows.net;SharedAccessSignature=sv=2024-01-01&ss=b&sig=c2lnbmF0dXJl",
     "c2lnbmF0dXJl"),
    ("https://a.blob.core.windows.net/c/x?sv=2024-01-01&se=2030&sig=abc%2Bdef", "abc%2Bdef"),
    ("DATAVERSE_CLIENT_SECRET=Zx8Q~secret.value", "Zx8Q~secret.value"),
    ('{"client_id": "app", "client_secret": "s3cr3t"}', "s3cr3t"),
    ("WORKETC_PASSWORD=hunter2 and more", "hunter2"),
    ("Authorization: Bearer eyJ0eXAi.eyJhdWQi.c2ln", "eyJ0eXAi"),
    ("https://admin:pa55word@contoso.worketc.com/xml?wsdl", "pa55word"),
])
def test_secrets_are_masked_and_the_rest_kept(text, hidden):
    masked = mask_secrets(text)
    assert hidden not in masked and "***" in masked
    assert mask_secrets(masked) == masked


def test_text_without_secrets_is_left_alone():
    for text in ("https://contoso.crm.dynamics.com", "/mnt/exports/contoso", "https://x.worketc.com/xml?wsdl",
                 "STAGING_CONNECTION", "run run-1a2b3c4d5e6f: worketc-csv", "WORKETC_PASSWORD_SECRET_URI is not set"):
        assert mask_secrets(text) == text


def test_the_logging_filter_masks_formatted_records(caplog):
    logger = logging.getLogger("tests.http.masking")
    caplog.handler.addFilter(MaskingFilter())
    logger.warning("cannot reach %s", STAGING_CONNECTION)
    assert SECRET_KEY not in caplog.text and "AccountKey=***" in caplog.text


def test_run_config_carries_a_staging_reference_never_the_connection_string():
    for staging in ("STAGING_CONNECTION", "https://acct.blob.core.windows.net/staging", "/var/staging",
                    "file:///var/staging"):
        assert RunConfig(**{**RUN, "staging": staging}).staging == staging
    for staging in (STAGING_CONNECTION, "UseDevelopmentStorage=true;", "https://a.blob.core.windows.net/c?sig=x",
                    "http://a.blob.core.windows.net/c", "relative/folder"):
        with pytest.raises(ValidationError) as e:
            RunConfig(**{**RUN, "staging": staging})
        assert [err["loc"] for err in e.value.errors()] == [("staging",)]
        assert SECRET_KEY not in str(e.value) and staging not in str(e.value)


@pytest.mark.parametrize("field, value", [
    ("run_id", "../../etc"), ("run_id", "a"), ("run_id", "x" * 64), ("run_id", "run:1"),
    ("target", "http://contoso.crm.dynamics.com"), ("target", "https://user:pw@contoso.crm.dynamics.com"),
    ("target", "https://contoso.crm.dynamics.com?x=1"), ("input", ""), ("input", "https://u:pw@x.worketc.com/xml?wsdl"),
    ("timezone", "Not/AZone"), ("chunk_size", 9), ("chunk_size", 50_001), ("source", "work4all"),
    ("only", []), ("only", ["spaceship"]), ("skip", ["spaceship"]), ("default_owner_email", "nobody"),
])
def test_run_config_refuses_naming_the_field(field, value):
    with pytest.raises(ValidationError) as e:
        RunConfig(**{**RUN, field: value})
    assert [err["loc"] for err in e.value.errors()] == [(field,)]


def test_every_source_kind_says_where_its_input_may_come_from():
    assert set(INPUTS) == set(SOURCE_KINDS)


def test_a_staging_setting_that_is_not_set_is_a_settings_error():
    env = {"STAGING_CONNECTION": STAGING_CONNECTION, "STAGING_SETTINGS": "STAGING_TEST"}
    with pytest.raises(SettingsError, match="STAGING_SETTINGS.*STAGING_TEST"):
        STAGINGS.pick(None, env)
    assert STAGINGS.pick("STAGING_TEST", {**env, "STAGING_TEST": "/x"}) == "STAGING_TEST"
    with pytest.raises(RequestRefused):
        STAGINGS.pick(STAGING_CONNECTION, env | {"STAGING_TEST": "/x"})  # never by value: it is a secret


def test_a_single_allowed_target_is_the_default_and_may_be_named():
    env = {"DATAVERSE_URL": "https://contoso.crm.dynamics.com/"}
    assert TARGETS.pick(None, env) == TARGETS.pick("DATAVERSE_URL", env) == "https://contoso.crm.dynamics.com"
    assert TARGETS.pick("https://contoso.crm.dynamics.com/", env) == "https://contoso.crm.dynamics.com"
    with pytest.raises(RequestRefused, match="DATAVERSE_URLS"):
        TARGETS.pick("https://contoso.crm.dynamics.com.attacker.example", env)
