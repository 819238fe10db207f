"""Pictures a front end sends with a message: checked and shrunk like screen frames, described by
the vision model for that turn (the screen untouched), never kept in the conversation."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from agent import Companion
from agent.threads import new_thread_id
from config import load_settings
from tests.support.scripted_openai import ScriptedOpenAI
from tests.support.scripted_vlm import ScriptedVLM, description
from vision import BadPicture, prepare_picture


def _encoded(image: Image.Image, form: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, form)
    return buffer.getvalue()


def test_a_png_becomes_a_jpeg_no_larger_than_max_side() -> None:
    png = _encoded(Image.new("RGB", (3000, 1500), (0, 128, 255)), "PNG")
    jpeg = prepare_picture(png, max_side=1280, quality=80)
    with Image.open(io.BytesIO(jpeg)) as shown:
        assert shown.format == "JPEG" and shown.size == (1280, 640)
        assert shown.getpixel((10, 10)) == pytest.approx((0, 128, 255), abs=3)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "empty"),
        (b"just some text, not a picture\n", "not a PNG or JPEG"),
        (_encoded(Image.new("RGB", (8, 8)), "GIF"), "a GIF picture"),
        (_encoded(Image.new("RGB", (64, 64)), "PNG")[:60], "cannot be read"),
        (_encoded(Image.new("1", (8000, 6000)), "PNG"), "megapixels"),
    ],
    ids=["empty", "text", "gif", "truncated", "too-many-pixels"],
)
def test_what_is_not_a_usable_picture_is_refused_with_the_reason(data: bytes, says: str) -> None:
    with pytest.raises(BadPicture, match=says):
        prepare_picture(data, max_side=1280, quality=80)


async def test_a_turn_with_pictures_describes_them_for_the_model_and_keeps_nothing(
    scripted: ScriptedOpenAI, termmate_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    picture = prepare_picture(
        _encoded(Image.new("RGB", (200, 100), (255, 0, 0)), "PNG"), max_side=1280, quality=80
    )
    with ScriptedVLM(default=description("A plain red rectangle.")) as vlm:
        monkeypatch.setenv("TERMMATE_MODE", "online")
        monkeypatch.setenv("TERMMATE_LLM__URL", scripted.url)
        monkeypatch.setenv("TERMMATE_VLM__URL", vlm.url)
        companion = await Companion.create(load_settings())
        thread = new_thread_id()
        try:
            assert not companion.eyes.on  # pictures are not the screen: no capture needed
            events = [e async for e in companion.turn(thread, "what is this?", images=[picture])]
            messages = await companion.threads.messages(thread)
        finally:
            await companion.aclose()
        [sent] = vlm.images()
    assert sent.open().size == (200, 100)
    system = scripted.chat_requests[0].messages[0]["content"]
    assert "pictures the user sent with this message" in system
    assert "A plain red rectangle." in system
    assert events[-1].__class__.__name__ == "TurnFinished"
    assert "red rectangle" not in repr(messages)  # what was seen is not checkpointed
