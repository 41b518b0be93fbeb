"""Dataverse Web API errors: `{"error": {"code": "0x...", "message": "..."}}` with the real HTTP status.

Codes and messages come from Microsoft's "Web service error codes" table and from messages seen in
public code that talks to real Dataverse. Where nobody has seen the exact wording the constant is
marked *inferred* (see README.md); keep such texts in this one file.
"""

from __future__ import annotations


class DataverseError(Exception):
    """An error answered to the caller as Dataverse would answer it."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


# --- codes (Web service error codes table) ------------------------------------------------------
OBJECT_DOES_NOT_EXIST = "0x80040217"          # ObjectDoesNotExist
KEY_RECORD_NOT_FOUND = "0x80060891"           # record addressed by alternate key is missing
RESOURCE_NOT_FOUND = "0x8006088a"             # Resource not found for the segment
VALIDATION_FAILED = "0x80044331"              # StringLengthTooLong / validation
PICKLIST_OUT_OF_RANGE = "0x8004431a"          # option value outside the valid range
DUPLICATE_KEY = "0x80040237"                  # DuplicateRecord: "Cannot insert duplicate key."
DUPLICATE_ENTITY_KEY = "0x80060892"           # DuplicateRecordEntityKey
CANNOT_USE_OPPORTUNITY_SETSTATE = "0x80100005"  # CannotUseOpportunitySetStateMessage
INCIDENT_NO_CUSTOMER = "0x80044410"           # unManagedidsincidentparentaccountandparentcontactnotpresent
INVALID_ARGUMENT = "0x80040203"               # InvalidArgument
GENERIC = "0x80040216"                        # unexpected / generic platform error
ZERO = "0x0"                                  # OData layer (parser / serializer) errors


# Metadata "already exists" answers, code and message template from Microsoft's "Web service error codes"
# (learn.microsoft.com/power-apps/developer/data-platform/reference/web-service-error-codes):
# SchemaNameisNotUnique, EntityKeyNameExists, EntityKeyWithSelectedAttributesExists,
# EntityRelationshipSchemaNameNotUnique. The HTTP status (400) is *inferred*.
SCHEMA_NAME_NOT_UNIQUE = "0x80044363"
ENTITY_KEY_NAME_EXISTS = "0x80060893"
ENTITY_KEY_ATTRIBUTES_EXIST = "0x80060894"
RELATIONSHIP_NAME_NOT_UNIQUE = "0x8004432b"


def schema_name_not_unique(schema_name: str, kind: str) -> DataverseError:
    return DataverseError(400, SCHEMA_NAME_NOT_UNIQUE, f"The schema name {schema_name} for type {kind} is not unique. "
                                                       f"An {schema_name} with same name already exists.")


def key_name_exists(schema_name: str, logical_name: str) -> DataverseError:
    return DataverseError(400, ENTITY_KEY_NAME_EXISTS,
                          f"An entity key with the name {schema_name} already exists on entity {logical_name}.")


def key_attributes_exist() -> DataverseError:
    return DataverseError(400, ENTITY_KEY_ATTRIBUTES_EXIST,
                          "An entity key with the selected attributes already exists on entity.")


def relationship_name_not_unique() -> DataverseError:
    return DataverseError(400, RELATIONSHIP_NAME_NOT_UNIQUE,
                          "A relationship with the specified name already exists. Please specify a unique name.")


def party_type_not_allowed(activity: str, mask) -> DataverseError:
    # *inferred* wording; the allowed types per activity are documented (activityparty-entity)
    return DataverseError(400, INVALID_ARGUMENT,
                          f"participationtypemask {mask} is not a valid activity party type for {activity}.")


def party_without_party_or_address() -> DataverseError:
    # *inferred*: an unresolved party is an address (addressused); a party with neither is meaningless
    return DataverseError(400, INVALID_ARGUMENT, "An activity party must have a partyid or an addressused.")


def not_found(logical_name: str, record_id: str) -> DataverseError:
    return DataverseError(404, OBJECT_DOES_NOT_EXIST,
                          f"Entity '{logical_name}' With Id = {record_id} Does Not Exist")


def key_not_found(logical_name: str) -> DataverseError:
    return DataverseError(404, KEY_RECORD_NOT_FOUND,
                          f"A record with the specified key values does not exist in {logical_name} entity")


def segment_not_found(segment: str) -> DataverseError:
    return DataverseError(404, RESOURCE_NOT_FOUND, f"Resource not found for the segment '{segment}'.")


def unknown_property(name: str, logical_name: str) -> DataverseError:
    return DataverseError(400, ZERO,
                          f"The property '{name}' does not exist on type 'Microsoft.Dynamics.CRM.{logical_name}'. "
                          "Make sure to only use property names that are defined by the type.")


def undeclared_nav(name: str) -> DataverseError:
    return DataverseError(400, ZERO,
                          f"An undeclared property '{name}' which only has property annotations in the payload "
                          "but no property value was found in the payload. In OData, only declared navigation "
                          "properties and declared named streams can be represented as properties without values.")


def unknown_select(name: str, logical_name: str) -> DataverseError:
    return DataverseError(400, ZERO,
                          f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{logical_name}'.")


def too_long(attr: str, logical_name: str, max_length: int) -> DataverseError:
    return DataverseError(400, VALIDATION_FAILED,
                          f"A validation error occurred. The length of the '{attr}' attribute of the "
                          f"'{logical_name}' entity exceeded the maximum allowed length of '{max_length}'.")


def option_out_of_range(attr: str, logical_name: str, value, accepted) -> DataverseError:
    return DataverseError(400, PICKLIST_OUT_OF_RANGE,
                          f"A validation error occurred. The value {value} of '{attr}' on record of type "
                          f"'{logical_name}' is outside the valid range. Accepted Values: "
                          + ",".join(str(v) for v in accepted))


def number_out_of_range(attr: str, logical_name: str, value, low, high) -> DataverseError:
    # *inferred* wording, modelled on the option-set message; code is the validation code.
    return DataverseError(400, VALIDATION_FAILED,
                          f"A validation error occurred. The value {value} of '{attr}' on record of type "
                          f"'{logical_name}' is outside the valid range. Accepted Values: {low} to {high}")


def bad_literal(value, edm_type: str) -> DataverseError:
    return DataverseError(400, ZERO, f"Cannot convert the literal '{value}' to the expected type '{edm_type}'.")


def bad_primitive(edm_type: str) -> DataverseError:
    return DataverseError(400, ZERO,
                          f"Cannot convert a primitive value to the expected type '{edm_type}'. "
                          "See the inner exception for more details.")


def missing_required(attr: str, logical_name: str) -> DataverseError:
    # *inferred* wording for a SystemRequired column left empty on create.
    return DataverseError(400, INVALID_ARGUMENT,
                          f"Attribute '{attr}' of entity '{logical_name}' cannot be NULL: it is required by the system.")


def malformed_json(detail: str = "") -> DataverseError:
    msg = "Invalid JSON. A token was not recognized in the JSON content."
    return DataverseError(400, ZERO, msg if not detail else f"{msg} {detail}".strip())


def duplicate_entity_key(key_name: str, attrs: list[str]) -> DataverseError:
    return DataverseError(412, DUPLICATE_ENTITY_KEY,
                          f"Entity Key {key_name} violated. A record with the same value for "
                          f"{','.join(attrs)} already exists.")


def matching_key_exists() -> DataverseError:
    return DataverseError(412, DUPLICATE_KEY, "A record with matching key values already exists.")


def duplicate_primary_key() -> DataverseError:
    return DataverseError(412, DUPLICATE_KEY, "Cannot insert duplicate key.")


def method_not_allowed() -> DataverseError:
    return DataverseError(405, ZERO, "The requested resource does not support http method.")


def set_state_refused(logical_name: str, state_label: str, message_name: str) -> DataverseError:
    # Wording seen live for a won opportunity; the incident variant names CloseIncidentRequest.
    return DataverseError(400, CANNOT_USE_OPPORTUNITY_SETSTATE,
                          f"This message can not be used to set the state of {logical_name} to {state_label}. "
                          f"In order to set state of {logical_name} to {state_label}, use the {message_name} "
                          "message instead.")


# Closed records that are read-only until reopened (SetState back to the open state):
# won/lost opportunities (learn.microsoft.com/troubleshoot/dynamics-365/sales/troubleshoot-opportunities-issues:
# "To change a closed opportunity, reopen it, make your changes, and then close it again") and paid or
# canceled invoices (invoice table reference, statecode: "Paid and canceled invoices are read-only and can't be
# edited unless they are reactivated"), with the lines of such an invoice. Code and wording are *inferred*.
READ_ONLY_WHEN_CLOSED = frozenset({"opportunity", "invoice"})


def closed_read_only(logical_name: str, statecode: int) -> DataverseError:
    return DataverseError(400, INVALID_ARGUMENT,
                          f"The {logical_name} is closed (statecode {statecode}) and cannot be modified. Reopen it "
                          "to make changes.")


# Closing a resolved case again (and updating one where "Case update after resolution" is "Don't allow
# updates"): CaseAlreadyResolved, code and message from the web-service-error-codes table, also reported
# from the platform (daryllabar/XrmUnitTest issues #48/#70). That an update is refused with it is *inferred*.
CASE_ALREADY_RESOLVED = "0x800404cf"
CASE_ALREADY_RESOLVED_MESSAGE = ("This case has already been resolved. Close and reopen the case record to see "
                                 "the updates.")
