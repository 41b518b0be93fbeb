"""shared/changes.py: what a pass does with a row, given the hashes of the pass before."""

from shared import changes


def row(name: str = "Contoso", **extra) -> dict:
    return {"key": "10001", "body": {"name": name, "ownerid@odata.bind": "/systemusers(1)"}, "row": 2, **extra}


def test_the_hash_covers_what_is_sent_not_where_it_came_from():
    assert changes.row_hash(row()) == changes.row_hash({**row(), "row": 99, "record": 7})
    assert changes.row_hash(row()) != changes.row_hash(row("Contoso Ltd"))
    assert changes.row_hash(row()) != changes.row_hash(row(close={"action": "WinOpportunity", "params": {}}))
    assert changes.row_hash(row()) != changes.row_hash(row(table="email"))


def test_new_changed_unchanged_and_deleted():
    before = {"10001": changes.row_hash(row()), "10002": "x"}
    assert changes.classify(changes.with_hash(row()), before) == "unchanged"
    assert changes.classify(changes.with_hash(row("Renamed")), before) == "changed"
    assert changes.classify({**row(), "key": "19999"}, before) == "new"
    assert changes.classify(row(), None) == "new"  # a first pass: everything is written
    assert changes.deleted(before, ["10001"]) == ["10002"] and changes.deleted(None, []) == []


def test_notes_are_known_by_their_source_key():
    note = {"key": "6c1f...", "source_key": "n-1", "body": {}}
    assert changes.row_key(note) == "n-1"
