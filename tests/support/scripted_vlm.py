"""A scripted vision server: ScriptedOpenAI (the real protocol over loopback HTTP) plus what a
test needs to check the images a client sent.

    with ScriptedVLM(default=description("A terminal with a traceback.", delay_s=0.2)) as vlm:
        ...  # point TERMMATE_VLM__URL at vlm.url
        [image] = vlm.images()  # decoded from the data URI; fails if it was not one
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass
from typing import Any

from PIL import Image

from tests.support.scripted_openai import RecordedRequest, Reply, ScriptedOpenAI, words_of

VLM_MODEL = "scripted-vlm"


def description(text: str, *, delay_s: float = 0.0) -> Reply:
    """A VLM's answer: ``text``, after ``delay_s`` of model latency."""
    return Reply.of(*words_of(text), first_token_delay_s=delay_s)


@dataclass(frozen=True)
class SentImage:
    """An image a chat request carried, decoded from its data URI."""

    media_type: str
    data: bytes

    def open(self) -> Image.Image:
        """The decoded picture (Pillow checks that the bytes really are an image)."""
        image = Image.open(io.BytesIO(self.data))
        image.load()
        return image


class ScriptedVLM(ScriptedOpenAI):
    """A scripted OpenAI-compatible VLM on 127.0.0.1, serving the model ``scripted-vlm``."""

    def __init__(
        self,
        *replies: Reply,
        default: Reply | None = None,
        model: str = VLM_MODEL,
        api_key: str | None = None,
    ) -> None:
        super().__init__(
            *replies,
            default=default or description("The user is reading code in an editor."),
            model=model,
            api_key=api_key,
        )

    def images(self) -> list[SentImage]:
        """Every image of every chat request, in order.

        Raises AssertionError for an image that is not a base64 data URI: vLLM takes local
        images only in that form.
        """
        return [decode_data_uri(url) for r in self.chat_requests for url in image_urls(r)]


def image_urls(request: RecordedRequest) -> list[str]:
    """The ``image_url`` URLs in a chat request's messages."""
    urls: list[str] = []
    for message in request.messages:
        content: Any = message.get("content")
        if not isinstance(content, list):
            continue
        for part in content:
            if isinstance(part, dict) and part.get("type") == "image_url":
                image_url = part.get("image_url")
                url = image_url.get("url") if isinstance(image_url, dict) else image_url
                urls.append(str(url))
    return urls


def text_parts(request: RecordedRequest) -> list[str]:
    """The ``text`` parts (and plain string contents) of a chat request's messages."""
    texts: list[str] = []
    for message in request.messages:
        content: Any = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts += [p["text"] for p in content if isinstance(p, dict) and p.get("type") == "text"]
    return texts


def decode_data_uri(url: str) -> SentImage:
    header, comma, payload = url.partition(",")
    if not comma or not header.startswith("data:") or not header.endswith(";base64"):
        raise AssertionError(f"expected a base64 data URI, got {url[:60]!r}")
    media_type = header.removeprefix("data:").removesuffix(";base64")
    try:
        data = base64.b64decode(payload, validate=True)
    except binascii.Error as exc:
        raise AssertionError(f"the data URI's base64 does not decode: {exc}") from None
    return SentImage(media_type, data)
