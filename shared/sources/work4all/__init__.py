"""work4all (German ERP/CRM): the vendor export / Excel templates (``export``), the value parsers for
German cells (``values``), the export specification for the vendor and the validation of a delivered
export (``spec``); the cloud tenants' GraphQL API (``graphql``) yields the same dicts as the export.

Contract: ../shared/formats/work4all-export.md. Every reader yields ``{"_file", "_row", <German
column>: str | None}`` with the values as the export spells them (``1.234,56``, ``31.12.2024 14:30``,
``Ja``); ``values.parse_*`` turn them into Python values.
"""
