"""A Server-Sent Events parser (the WHATWG event-stream format), fed with raw bytes as they arrive."""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from typing import Any

_EOL = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class StreamEvent:
    """One event of `GET /api/v1/events/stream/`: `id` is the replay id, `data` the raw JSON envelope."""

    id: str | None
    event: str
    data: str

    def json(self) -> Any:
        """The decoded envelope `{"id", "type", "tenant", "occurred_at", "data"}`."""
        return json.loads(self.data)


class SSEParser:
    """Incremental parser: `feed(bytes)` returns the events completed by that chunk.

    Comment lines (`: heartbeat`) are ignored, `retry:` is kept in `retry_ms`, and a block without
    `data:` dispatches nothing (as browsers do).
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self.retry_ms: int | None = None
        self._first = True

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        text = self._decoder.decode(chunk)
        if self._first and text:
            text = text.removeprefix("\ufeff")
            self._first = False
        self._buffer += text
        events: list[StreamEvent] = []
        while True:
            match = _EOL.search(self._buffer)
            if match is None:
                break
            if match.group() == "\r" and match.end() == len(self._buffer):
                break  # may be the first half of a \r\n split across chunks
            line, self._buffer = self._buffer[: match.start()], self._buffer[match.end() :]
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> StreamEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None  # comment: the server's heartbeat
        field, colon, value = line.partition(":")
        if colon:
            value = value.removeprefix(" ")
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id":
            if "\0" not in value:
                self._id = value
        elif field == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> StreamEvent | None:
        data, event, event_id = self._data, self._event, self._id
        self._data, self._event, self._id = [], "", None
        if not data:
            return None
        return StreamEvent(id=event_id, event=event or "message", data="\n".join(data))
