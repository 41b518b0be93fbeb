"""Hostile XML (DTDs, entity expansion, external entities) fails cleanly, in the WSDL and in answers."""

from __future__ import annotations

import time

import pytest
import requests
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from emulators.worketc import build_wsdl
from shared.sources.worketc.soap import WorketcXmlError

from .conftest import serve

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10))
          + "]>")
XXE = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


def _answer(prolog: str, entity: str) -> str:
    return (f'{prolog}<soap:Envelope xmlns:soap="{SOAP12}"><soap:Body>'
            '<AuthenticateWebSafeResponse xmlns="http://schema.veetro.com/"><AuthenticateWebSafeResult>'
            f"<Code>Success</Code><SessionKey>&{entity};</SessionKey></AuthenticateWebSafeResult>"
            "</AuthenticateWebSafeResponse></soap:Body></soap:Envelope>")


def hostile_app(*, wsdl: str | None = None, answer: str | None = None):
    posts = []

    async def get(request):
        body = wsdl if wsdl is not None else build_wsdl(str(request.url.replace(query=None)))
        return Response(body, media_type="text/xml")

    async def post(request):
        posts.append(await request.body())
        return Response(answer, media_type="application/soap+xml")

    app = Starlette(routes=[Route("/xml", get, methods=["GET"]), Route("/xml", post, methods=["POST"])])
    app.state.posts = posts
    return app


@pytest.mark.parametrize("wsdl", [
    LAUGHS + '<definitions xmlns="http://schemas.xmlsoap.org/wsdl/">&lol9;</definitions>',
    XXE + '<definitions xmlns="http://schemas.xmlsoap.org/wsdl/">&xxe;</definitions>',
], ids=["billion-laughs", "external-entity"])
def test_hostile_wsdl_is_refused(client_for, wsdl):
    with serve(hostile_app(wsdl=wsdl)) as url:
        start = time.monotonic()
        with pytest.raises(WorketcXmlError, match="WSDL .* refused: (DTDForbidden|XMLSyntaxError: .*amplification)"):
            client_for(url).discover()
        assert time.monotonic() - start < 5


@pytest.mark.parametrize("answer", [
    _answer(LAUGHS, "lol9"), _answer(XXE, "xxe"),
], ids=["billion-laughs", "external-entity"])
def test_hostile_answer_is_refused_and_not_retried(client_for, answer):
    app = hostile_app(answer=answer)
    with serve(app) as url:
        with pytest.raises(WorketcXmlError, match="AuthenticateWebSafe: the answer (was refused: DTDForbidden|is not valid XML .*amplification)"):
            client_for(url).login()
    assert len(app.state.posts) == 1


def test_an_answer_that_is_not_xml_is_refused(client_for):
    app = hostile_app(answer="<html><body>Service Unavailable<br></body>")
    with serve(app) as url:
        with pytest.raises(WorketcXmlError, match="not valid XML"):
            client_for(url).login()


def test_the_emulator_refuses_a_dtd_in_a_request(emulator):
    url, _ = emulator()
    body = _answer(LAUGHS, "lol9")
    r = requests.post(f"{url}/xml", data=body, headers={"Content-Type": "application/soap+xml"}, timeout=5)
    assert r.status_code == 400 and b"soap:Sender" in r.content
