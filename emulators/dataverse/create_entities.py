"""``POST /api/data/v9.2/CreateEntities``: the action Microsoft's Python SDK for Dataverse
(PowerPlatform-Dataverse-Client 1.1.0, ``tables.create``) sends to create a table with its columns in one
request (../shared/REFERENCE.md, "Added later"; the payload as the SDK builds it in
``PowerPlatform/Dataverse/data/_odata_base.py::_build_create_entity``):

    {"Entities": [{"@odata.type": "Microsoft.Dynamics.CRM.ComplexEntityMetadata", "SchemaName": "new_Thing",
                   "DisplayName": Label, "DisplayCollectionName": Label, "Description": Label,
                   "OwnershipType": "UserOwned", "HasActivities": false, "HasNotes": true, "IsActivity": false,
                   "Attributes": [{"@odata.type": "Microsoft.Dynamics.CRM.ComplexStringAttributeMetadata",
                                   "SchemaName": "new_Name", "IsPrimaryName": true, "MaxLength": 200, ...}, ...]}]}

with ``?SolutionUniqueName=<name>`` optionally. The ``Complex*`` metadata types are what the action
takes (the SDK: "``Complex*AttributeMetadata`` types required by the ``CreateEntities`` action"), where
``POST EntityDefinitions`` takes the plain ``*AttributeMetadata`` types: each entity is created as that
route creates one (same checks: publisher prefix, one primary name String, the custom table limit,
HasNotes / HasActivities relationships). *Inferred*: the entities are created in order and the first
refused one stops the request (earlier ones stay); the answer is ``200`` with a
``CreateEntitiesResponse`` holding the new tables' MetadataIds (``EntityIds``), after
CreateEntityResponse.EntityId of the SDK for .NET (learn.microsoft.com/dotnet/api/
microsoft.xrm.sdk.messages.createentityresponse.entityid).
"""

from __future__ import annotations

import json

from . import errors as E
from .errors import DataverseError

COMPLEX = "Microsoft.Dynamics.CRM.Complex"


def _plain(value):
    """A ``Complex*`` metadata document as the ``EntityDefinitions`` route reads it."""
    if isinstance(value, dict):
        out = {k: _plain(v) for k, v in value.items()}
        t = out.get("@odata.type")
        if isinstance(t, str) and t.lstrip("#").startswith(COMPLEX):
            out["@odata.type"] = "Microsoft.Dynamics.CRM." + t.lstrip("#")[len(COMPLEX):]
        return out
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def create_entities(core, ctx):
    from .core import Resp, parse_json_body

    if ctx.method != "POST":
        raise E.method_not_allowed()
    ctx.kind = "metadata"
    body = parse_json_body(ctx.body)
    entities = body.get("Entities")
    if not isinstance(entities, list) or not entities:
        raise DataverseError(400, E.ZERO, "The parameter 'Entities' is required for the action 'CreateEntities'.")
    ids = []
    for entity in entities:
        if not isinstance(entity, dict) or str(entity.get("@odata.type", "")).lstrip("#") != \
                f"{COMPLEX}EntityMetadata":
            raise DataverseError(400, E.ZERO, "Each item of 'Entities' must be a "
                                              "Microsoft.Dynamics.CRM.ComplexEntityMetadata.")  # *inferred*
        for attribute in entity.get("Attributes") or []:
            t = str((attribute or {}).get("@odata.type", "")).lstrip("#")
            if not t.startswith(COMPLEX):
                raise DataverseError(400, E.ZERO, f"The attribute type '{t or '(missing @odata.type)'}' is not "
                                                  "valid in CreateEntities: use the Complex*AttributeMetadata "
                                                  "types.")  # *inferred*
        plain = _plain({k: v for k, v in entity.items() if k != "@odata.type"})
        saved = ctx.body
        ctx.body = json.dumps(plain).encode("utf-8")
        try:
            resp = core._create_table(ctx)
        finally:
            ctx.body = saved
        url = dict(resp.headers).get("OData-EntityId", "")
        ids.append(url.rsplit("(", 1)[-1].rstrip(")"))
    return Resp.json(200, {"@odata.context": f"{ctx.api}$metadata#Microsoft.Dynamics.CRM.CreateEntitiesResponse",
                           "EntityIds": ids})
