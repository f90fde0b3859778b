"""Where zstd frames end, found by reading block headers (RFC 8878 §3.1) without decoding.

``zstandard``'s stream reader returns a clean EOF when its input stops in the middle of
a frame, so a truncated zstd layer would look complete. Decompressing with
``decompressobj`` would tell (``eof``) but returns a frame's whole output at once, so a
small bomb could fill memory. This tracker watches the compressed bytes go by, skipping
block contents by their sizes, and says whether the stream stopped on a frame boundary.
"""

from __future__ import annotations

ZSTD_FRAME_MAGIC = 0xFD2FB528
SKIPPABLE_MASK = 0xFFFFFFF0
SKIPPABLE_MAGIC = 0x184D2A50
_DID_SIZES = (0, 1, 2, 4)
_FCS_SIZES = (0, 2, 4, 8)


class ZstdFrames:
    def __init__(self) -> None:
        self._state = "magic"
        self._need = 4
        self._head = bytearray()
        self._skip = 0
        self._after_skip = "magic"
        self._checksum = False
        self.broken = False  # not zstd as we know it: leave the verdict to the decoder

    @property
    def at_boundary(self) -> bool:
        return self.broken or (self._state == "magic" and not self._head and not self._skip)

    def update(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        i = 0
        while i < len(view) and not self.broken:
            if self._skip:
                n = min(self._skip, len(view) - i)
                self._skip -= n
                i += n
                if not self._skip:
                    self._go(self._after_skip)
                continue
            take = min(self._need - len(self._head), len(view) - i)
            self._head += view[i:i + take]
            i += take
            if len(self._head) == self._need:
                head, self._head = bytes(self._head), bytearray()
                self._parse(head)

    def _go(self, state: str) -> None:
        self._state = state
        self._need = {"magic": 4, "skippable": 4, "descriptor": 1, "block": 3}.get(state, 0)

    def _skip_then(self, size: int, state: str) -> None:
        self._after_skip = state
        if size:
            self._skip = size
            self._state = "skipping"
        else:
            self._go(state)

    def _parse(self, head: bytes) -> None:
        value = int.from_bytes(head, "little")
        if self._state == "magic":
            if value == ZSTD_FRAME_MAGIC:
                self._go("descriptor")
            elif value & SKIPPABLE_MASK == SKIPPABLE_MAGIC:
                self._go("skippable")
            else:
                self.broken = True
        elif self._state == "skippable":
            self._skip_then(value, "magic")
        elif self._state == "descriptor":
            single_segment = bool(value & 0x20)
            self._checksum = bool(value & 0x04)
            fcs = _FCS_SIZES[value >> 6] or (1 if single_segment else 0)
            rest = (0 if single_segment else 1) + _DID_SIZES[value & 3] + fcs
            self._skip_then(rest, "block")
        elif self._state == "block":
            last, kind, size = value & 1, (value >> 1) & 3, value >> 3
            if kind == 3:
                self.broken = True
                return
            after = ("checksum" if self._checksum else "magic") if last else "block"
            self._skip_then(1 if kind == 1 else size, after)
        if self._state == "checksum":
            self._skip_then(4, "magic")
