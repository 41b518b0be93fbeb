"""QuickXorHash: the content hash SharePoint and OneDrive for Business report for files.

Algorithm (learn.microsoft.com/onedrive/developer/code-snippets/quickxorhash): a 160-bit block;
byte ``i`` of the input is XORed into the block rotated left by ``(i * 11) mod 160`` bits; the
block is serialised as 20 little-endian bytes and the input length (64-bit little-endian) is
XORed into its last 8 bytes. Graph returns it base64 encoded in ``file.hashes.quickXorHash``.

Because ``160 * 11 mod 160 == 0`` every byte at the same position modulo 160 lands on the same
bits, so this implementation first XOR-folds the input into a 160-byte "column" accumulator with
big-integer operations (fast in CPython, constant memory per update) and only rotates the 160
columns into place when the digest is asked for.
"""

from __future__ import annotations

import base64

_WIDTH_BITS = 160
_ROW = 160  # bytes per period: positions i and i + 160 share a rotation
_ROW_BITS = _ROW * 8
_ROW_MASK = (1 << _ROW_BITS) - 1
_BLOCK_MASK = (1 << _WIDTH_BITS) - 1


def _fold_rows(data: bytes | bytearray | memoryview) -> int:
    """XOR of consecutive 160-byte rows of ``data`` (zero padded), as a little-endian int."""
    n = len(data)
    rows = -(-n // _ROW)
    x = int.from_bytes(data, "little")  # padding with zero bytes is implicit at the top
    acc = 0
    while rows > 1:
        if rows & 1:
            rows -= 1
            acc ^= x >> (rows * _ROW_BITS)
            x &= (1 << (rows * _ROW_BITS)) - 1
        half = rows // 2
        shift = half * _ROW_BITS
        x = (x >> shift) ^ (x & ((1 << shift) - 1))
        rows = half
    return acc ^ x


class QuickXorHash:
    """Incremental QuickXorHash, hashlib-style: ``update``, ``digest``, ``b64digest``."""

    name = "quickXorHash"
    digest_size = 20

    def __init__(self, data: bytes | None = None) -> None:
        self._columns = 0  # byte k = XOR of input bytes at positions == k (mod 160)
        self._length = 0
        if data:
            self.update(data)

    def update(self, data: bytes | bytearray | memoryview) -> None:
        n = len(data)
        if not n:
            return
        row = _fold_rows(data)
        r = self._length % _ROW
        if r:
            row = ((row << (8 * r)) | (row >> (_ROW_BITS - 8 * r))) & _ROW_MASK
        self._columns ^= row
        self._length += n

    def copy(self) -> "QuickXorHash":
        other = QuickXorHash()
        other._columns, other._length = self._columns, self._length
        return other

    @property
    def length(self) -> int:
        return self._length

    def digest(self) -> bytes:
        block = 0
        columns = self._columns
        for k in range(_ROW):
            b = (columns >> (8 * k)) & 0xFF
            if b:
                s = (k * 11) % _WIDTH_BITS
                v = b << s
                block ^= (v | (v >> _WIDTH_BITS)) & _BLOCK_MASK
        out = bytearray(block.to_bytes(20, "little"))
        for i, lb in enumerate((self._length & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little")):
            out[12 + i] ^= lb
        return bytes(out)

    def b64digest(self) -> str:
        return base64.b64encode(self.digest()).decode("ascii")


def quickxorhash_b64(data: bytes) -> str:
    return QuickXorHash(data).b64digest()
