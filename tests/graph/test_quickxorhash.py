import base64
import os

import pytest

from shared.sharepoint.quickxorhash import QuickXorHash, quickxorhash_b64

# (input base64, quickXorHash base64): public test vectors (rclone's quickxorhash tests).
VECTORS = [
    ("", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
    ("Sg==", "SgAAAAAAAAAAAAAAAQAAAAAAAAA="),
    ("tbQ=", "taAFAAAAAAAAAAAAAgAAAAAAAAA="),
    ("n6Neh7p6fFgm", "nxiFFw6hCz3wAQsmCQAAAAAAAAA="),
    ("2fuxhBJXtpWFe8dOfdGeHw==", "O9tHLAghgSvYohKFyMMxnNCHaHg="),
    ("T6LYJIfDh81JrAK309H2JMJTXis=", "zBTHrspn3mEcohlJdIUAbjGNaNg="),
    ("Mb7EGva2rEE5fENDL85P+BsapHEEjv2/siVhKjvAQe02feExVOQSkfmuYzU/kTF1MaKjPmKF/w+cbvwfdWL8aQ==",
     "n1anP5NfvD4XDYWIeRPW3ZkPv1Y="),
    ("qwGf2ESubE5jOUHHyc94ORczFYYbc2OmEzo+hBIyzJiNwAzC8PvJqtTzwkWkSslgHFGWQZR2BV5+uYTrYT7HVwRM40vqfj0dBgeDENyTenIO"
     "L1LHkjtDKoXEnQ0mXAHoJ8PjbNC93zi5TovVRXTNzfGEs5dpWVqxUzb5lc7dwkyvOluBw482mQ4xrzYyIY1t+//OrNi1ObGXuUw2jBQOFfJV"
     "j2Y6BOyYmfB1y36eBxi3zxeG5d5NYjm2GSh6e08QMAwu3zrINcqIzLOuNIiGXBtl7DjKt7b5wqi4oFiRpZsCyx2smhSrdrtK/CkdU6nDN+34"
     "vSR/M8rZpWQdBE7a8g==", "WYT9JY3JIo/pEBp+tIM6Gt2nyTM="),
]


@pytest.mark.parametrize("data,expected", VECTORS)
def test_known_vectors(data, expected):
    assert quickxorhash_b64(base64.b64decode(data)) == expected


@pytest.mark.parametrize("block", [1, 7, 64, 159, 160, 161, 1000])
def test_incremental_updates_match(block):
    data = os.urandom(5000)
    h = QuickXorHash()
    for i in range(0, len(data), block):
        h.update(data[i:i + block])
    assert h.b64digest() == quickxorhash_b64(data)


def test_hello_world_digest():
    # Published example (Rust quickxorhash crate documentation).
    assert list(QuickXorHash(b"hello world").digest()) == [104, 40, 3, 27, 216, 240, 6, 16, 220, 225, 13, 114, 107,
                                                           3, 25, 0, 0, 0, 0, 0]
