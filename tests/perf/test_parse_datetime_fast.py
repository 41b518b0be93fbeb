"""values.parse_datetime's fast path for ``dd/mm/yyyy HH:MM`` gives what the general parser gives: the same
instant, and the same error for a value it does not accept."""

from __future__ import annotations

import random

import pytest

from shared.sources.worketc import values


def _general(raw: str, order: str, tz: str):
    # a leading space keeps the value off the fast path (it is stripped after the length check is made on
    # the stripped text, so pad inside: a layout the fast path refuses but the general parser reads)
    return values.parse_datetime(raw.replace(" ", "  ", 1), order=order, tz=tz)


@pytest.mark.parametrize("order", ["DMY", "MDY"])
@pytest.mark.parametrize("tz", ["Australia/Sydney", "UTC", "Europe/Berlin"])
def test_fast_path_equals_the_general_parser(order, tz):
    rng = random.Random(3)
    samples = ["05/04/2024 02:30", "06/10/2024 02:30", "31/03/2024 02:59", "01/01/2000 00:00", "28/02/2023 23:59"]
    samples += [f"{rng.randint(1, 31):02d}/{rng.randint(1, 12):02d}/{rng.randint(1990, 2030)} "
                f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}" for _ in range(3000)]
    for raw in samples:
        try:
            expected = _general(raw, order, tz)
        except values.FieldError as e:
            with pytest.raises(values.FieldError) as got:
                values.parse_datetime(raw, order=order, tz=tz)
            assert str(got.value) == str(e).replace("  ", " ", 1)
            continue
        got = values.parse_datetime(raw, order=order, tz=tz)
        assert got == expected and got.utcoffset() == expected.utcoffset() and got.tzinfo == expected.tzinfo, raw


@pytest.mark.parametrize("raw", ["13/13/2024 10:00", "31/02/2024 10:00", "01/01/2024 24:00", "01/01/2024 10:60",
                                 "١٢/٠١/٢٠٢٤ 10:00", "1/1/2024 9:05"])
def test_values_the_fast_path_does_not_accept_go_the_general_way(raw):
    try:
        expected = _general(raw, "DMY", "UTC")
    except values.FieldError as e:
        with pytest.raises(values.FieldError):
            values.parse_datetime(raw, order="DMY", tz="UTC")
        return
    assert values.parse_datetime(raw, order="DMY", tz="UTC") == expected
