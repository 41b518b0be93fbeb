"""How the spot check compares a value sent with the value found in Dataverse."""

from __future__ import annotations

import pytest

from shared.steps.spot_check import _same


@pytest.mark.parametrize("sent, found, equal", [
    ("Acme", "Acme", True), ("Acme", "acme", False), ("a\r\nb", "a\nb", False),
    (None, None, True), ("", None, True), (None, "x", False),
    (1234.5, 1234.5, True), (1234.5, 1234.50000000001, True), (3, 3.0, True), (1234.5, 1234.6, False),
    (True, True, True), (True, 1, False), (False, None, False),
    ("2023-05-22T05:00:00Z", "2023-05-22T05:00:00Z", True),
    ("2023-05-22T05:00:00Z", "2023-05-22T15:00:00+10:00", True),  # one instant
    ("2023-05-22T05:00:00Z", "2023-05-22T05:00:01Z", False), ("2023-05-22", "2023-05-22", True),
    ("Take", "Tale", False), (1, "1", False),
])
def test_values_compare_as_dataverse_values(sent, found, equal):
    assert _same(sent, found) is equal
