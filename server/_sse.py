"""Server-sent events: one ``event:`` name and one JSON ``data:`` line per event.

JSON never holds a raw line break (json.dumps escapes them), so each event's data is exactly
one line, whatever the model wrote.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

MEDIA_TYPE = "text/event-stream"

HEADERS = {
    "Cache-Control": "no-cache",
    # Proxies (nginx) would otherwise buffer the stream and the tokens would arrive together.
    "X-Accel-Buffering": "no",
}

EXAMPLE = (
    'event: start\ndata: {"thread_id":"t-1a2b3c4d5e"}\n\n'
    'event: routed\ndata: {"backend":"remote","model":"Qwen/Qwen2.5-7B-Instruct",'
    '"fallback_reason":null,"restarted":false}\n\n'
    'event: token\ndata: {"text":"Hello"}\n\n'
    'event: token\ndata: {"text":" there."}\n\n'
    'event: audio\ndata: {"sequence":0,"text":"Hello there.","audio_b64":"UklGRiQA..."}\n\n'
    'event: end\ndata: {"text_response":"Hello there.","timings":{"first_token_ms":212.4,'
    '"total_ms":401.0,"first_audio_ms":655.0},"stopped":false,"memory":"searched",'
    '"audio_error":null}\n\n'
)
"""A whole stream, for /docs."""

DESCRIPTION = """\
The same body as POST /v1/chat, answered as server-sent events as the reply is written:

- `heard {text, language}`: first, when the message came as audio_b64: what was heard.
- `start {thread_id}`: at once; the id to continue the conversation with.
- `routed {backend, model, fallback_reason, restarted}`: which model answers. `restarted`:
  the remote failed mid-reply and the local model starts over, so drop the tokens so far.
- `token {text}`: the next piece of the reply.
- `audio {sequence, text, audio_b64}`: one spoken sentence (base64 WAV), in order, as each
  is synthesised (when the reply is spoken).
- then `end {text_response, timings, stopped, memory, audio_error}`, or
  `error {detail, kind}` (kind: no_model, model, data, unavailable, internal, not_found).

Closing the connection stops the reply; what was written is saved, marked stopped.
Errors found before the turn starts (400, 403, 404, 413, 422, 429) are plain HTTP answers.
"""


def encode(event: str, data: Mapping[str, Any]) -> bytes:
    """One server-sent event."""
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event}\ndata: {payload}\n\n".encode()
