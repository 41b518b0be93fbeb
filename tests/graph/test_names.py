"""SharePoint's name and path rules, as Graph enforces them on uploads, upload sessions and folders.

Rules: Microsoft support, "Restrictions and limitations in OneDrive and SharePoint"
(https://support.microsoft.com/en-us/office/restrictions-and-limitations-in-onedrive-and-sharepoint-64883a5d-228e-48f5-b3d2-eb39e07630fa).
Answers: 400 ``invalidRequest`` (errors: https://learn.microsoft.com/onedrive/developer/rest-api/concepts/errors),
``innerError.code`` ``nameContainsInvalidCharacters`` for characters (observed, OneDrive/onedrive-api-docs#1446),
``pathIsTooLong`` for paths over 400 characters.
"""

import pytest

RESERVED = ["CON", "con.txt", "PRN.pdf", "AUX", "NUL.tar.gz", "COM0", "COM1.doc", "LPT9.txt", "lpt1", ".lock",
            "desktop.ini", "Desktop.INI", "~$draft.docx", "a_vti_b.txt", "_VTI_CNF"]
CHARACTERS = ['a"b.txt', "a*b.txt", "a:b.txt", "a<b.txt", "a>b.txt", "a?b.txt", "a|b.txt", "a\\b.txt",
              "tab\there.txt"]
EDGES = [" lead.txt", "trail.txt ", "dot.", "..."]
ALLOWED = ["CONTRACT.pdf", "COM10.txt", "console.log", "Desktop.ini.bak", "~draft.docx", ".gitignore",
           "vti.txt", "a$b.txt", "report (1).pdf", "Müller & Söhne #1.pdf", "x" * 200 + ".txt"]


def _error(resp):
    body = resp.json()["error"]
    assert set(body) >= {"code", "message", "innerError"}
    return resp.status_code, body["code"], body["innerError"].get("code")


@pytest.mark.parametrize("name", RESERVED + CHARACTERS + EDGES)
async def test_refused_names_on_simple_upload(graph, drive, name):
    from urllib.parse import quote

    r = await graph.put(f"/drives/{drive['id']}/root:/Docs/{quote(name, safe='')}:/content", content=b"x")
    status, code, inner = _error(r)
    assert (status, code) == (400, "invalidRequest"), (name, r.text)
    if name in CHARACTERS:
        assert inner == "nameContainsInvalidCharacters"
    assert (await graph.get(f"/drives/{drive['id']}/root:/Docs")).status_code == 404  # nothing created


@pytest.mark.parametrize("name", RESERVED + CHARACTERS + EDGES + ["~folder", "forms"])
async def test_refused_folder_names(graph, drive, name):
    r = await graph.post(f"/drives/{drive['id']}/root/children", json={"name": name, "folder": {}})
    assert _error(r)[:2] == (400, "invalidRequest"), (name, r.text)


async def test_forms_is_refused_only_at_the_library_root(graph, drive):
    r = await graph.post(f"/drives/{drive['id']}/root/children", json={"name": "A", "folder": {}})
    assert r.status_code == 201
    r = await graph.post(f"/drives/{drive['id']}/items/{r.json()['id']}/children", json={"name": "forms", "folder": {}})
    assert r.status_code == 201


@pytest.mark.parametrize("name", RESERVED[:4] + CHARACTERS[:2])
async def test_refused_names_on_upload_session(graph, drive, name):
    from urllib.parse import quote

    r = await graph.post(f"/drives/{drive['id']}/root:/Docs/{quote(name, safe='')}:/createUploadSession",
                         json={"item": {}})
    assert _error(r)[:2] == (400, "invalidRequest"), (name, r.text)


@pytest.mark.parametrize("name", ALLOWED)
async def test_allowed_names(graph, drive, name):
    from urllib.parse import quote

    r = await graph.put(f"/drives/{drive['id']}/root:/Docs/{quote(name, safe='')}:/content", content=b"x")
    assert r.status_code == 201, (name, r.text)
    assert r.json()["name"] == name


async def test_path_limit_400_decoded_characters(graph, drive):
    # the decoded path counts from the site: "sites/crm/Shared Documents/" is 27 characters
    folder = "F" * 120
    room = 400 - len("sites/crm/Shared Documents/") - len(f"{folder}/{folder}/")
    ok = "n" * (room - 4) + ".txt"
    r = await graph.put(f"/drives/{drive['id']}/root:/{folder}/{folder}/{ok}:/content", content=b"x")
    assert r.status_code == 201, r.text
    too_long = "n" * (room - 3) + ".txt"
    r = await graph.put(f"/drives/{drive['id']}/root:/{folder}/{folder}/{too_long}:/content", content=b"x")
    assert _error(r) == (400, "invalidRequest", "pathIsTooLong")
    r = await graph.post(f"/drives/{drive['id']}/root:/{folder}/{folder}:/children",
                         json={"name": too_long, "folder": {}})
    assert _error(r) == (400, "invalidRequest", "pathIsTooLong")


async def test_upload_session_path_keeps_room_for_its_temporary_name(graph, drive):
    # An upload session writes "~tmpXX_<name>" first, so its path must fit 7 characters more
    # (observed: microsoftgraph/msgraph-sdk-dotnet#2018, sessions fail above 393 characters).
    folder = "F" * 120
    room = 400 - len("sites/crm/Shared Documents/") - len(f"{folder}/{folder}/")
    name = "n" * (room - 4) + ".bin"  # fits a simple upload exactly
    r = await graph.post(f"/drives/{drive['id']}/root:/{folder}/{folder}/{name}:/createUploadSession", json={})
    assert _error(r) == (400, "invalidRequest", "pathIsTooLong")
    name = "n" * (room - 11) + ".bin"
    r = await graph.post(f"/drives/{drive['id']}/root:/{folder}/{folder}/{name}:/createUploadSession", json={})
    assert r.status_code == 200, r.text
