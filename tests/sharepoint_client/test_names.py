import pytest

from shared.sharepoint.names import MAX_NAME, record_folder_name, safe_name, unique_names, with_source_id


@pytest.mark.parametrize("name,expected", [
    ("report.pdf", "report.pdf"),
    ("COM10.txt", "COM10.txt"),
    (".gitignore", ".gitignore"),
    ("CONTRACT.pdf", "CONTRACT.pdf"),
    ("~draft.docx", "~draft.docx"),
])
def test_names_sharepoint_accepts_are_kept(name, expected):
    assert safe_name(name) == (expected, [])


@pytest.mark.parametrize("name,expected", [
    ('a"b*c:d<e>f?g/h\\i|j', "a-b-c-d-e-f-g-h-i-j"),
    ("  .name. ", ".name"),
    ("~$lock.docx", "_~$lock.docx"),
    ("aux.", "aux_"),
    ("COM1.tar.gz", "COM1_.tar.gz"),
    ("desktop.INI", "desktop_.INI"),
    (".LOCK", "_.LOCK"),
    ("My_VTI_notes.txt", "My-vti-notes.txt"),
    ("invoice\u202egpj.exe", "invoicegpj.exe"),
    ("x" * 200 + ".pdf", "x" * 124 + ".pdf"),
    ("...", "_"),
])
def test_names_sharepoint_refuses_are_changed_and_say_why(name, expected):
    new, changes = safe_name(name)
    assert new == expected and changes


def test_record_folder_name():
    gid = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
    assert record_folder_name("Contoso: Ltd.", gid) == "Contoso- Ltd_3F2504E04F8911D39A0C0305E82C3301"
    long = record_folder_name("N" * 300, gid)
    assert len(long) == MAX_NAME and long.endswith("_3F2504E04F8911D39A0C0305E82C3301")
    assert record_folder_name(None, gid) == "_3F2504E04F8911D39A0C0305E82C3301"
    assert record_folder_name("~Temp", gid) == "_~Temp_3F2504E04F8911D39A0C0305E82C3301"  # no leading ~ on folders
    assert "_vti_" not in record_folder_name("Acme_vti", gid).lower()


def test_with_source_id():
    assert with_source_id("report.pdf", "D1234") == "report (D1234).pdf"
    assert with_source_id("n" * 200 + ".pdf", "7", 40) == "n" * 32 + " (7).pdf"
    assert with_source_id("report.pdf", "1" * 50, 20) is None


def test_unique_names_smallest_id_keeps_the_name():
    assert unique_names([("10", "a.pdf"), ("9", "A.PDF"), ("11", "b.pdf")]) == {"10": "a (10).pdf"}
    assert unique_names([("3", "x.txt"), ("2", "x.txt"), ("1", "x.txt")]) == {"2": "x (2).txt", "3": "x (3).txt"}


def test_unique_names_when_a_new_name_meets_another():
    # "r (2).pdf" is also a name in the source: it moves aside too, and no two names end equal
    plan = unique_names([("1", "r.pdf"), ("2", "r.pdf"), ("3", "r (2).pdf")])
    final = {"1": "r.pdf", "2": "r.pdf", "3": "r (2).pdf", **plan}
    assert len({n.casefold() for n in final.values()}) == 3 and plan["2"] == "r (2).pdf"
