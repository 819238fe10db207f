"""Eyes end to end: Xvfb → capture → change detection → a scripted VLM over loopback HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent.llm.vision import SightModel, VisionModels, vision_models
from config import ServiceStatus, Settings
from tests.support.pictures import quadrants, with_block
from tests.support.scripted_openai import Reply
from tests.support.scripted_vlm import ScriptedVLM, description, text_parts
from tests.support.waiting import eventually
from tests.support.xvfb import XvfbDisplay
from tests.vision.conftest import SCRIPTED_DESCRIPTION
from vision import (
    DESCRIBE_PROMPT,
    DescriptionFailed,
    DescriptionTimedOut,
    Eyes,
    ScreenUnavailable,
)


def settings_for(vlm: ScriptedVLM, tmp_path: Path, **vision: Any) -> Settings:
    return Settings(mode="online", data_dir=tmp_path, vlm={"url": vlm.url}, vision=vision)


@pytest.fixture
async def eyes_factory(tmp_path: Path) -> AsyncIterator[Any]:
    made: list[tuple[Eyes, VisionModels]] = []

    def make(vlm: ScriptedVLM, **vision: Any) -> Eyes:
        settings = settings_for(vlm, tmp_path, **vision)
        router = vision_models(settings)
        eyes = Eyes(settings.vision, SightModel(router))
        made.append((eyes, router))
        return eyes

    yield make
    for eyes, router in made:
        await eyes.aclose()
        await router.aclose()


async def test_a_look_sends_the_screen_as_a_jpeg_data_uri(
    screen: XvfbDisplay, scripted_vlm: ScriptedVLM, eyes_factory: Any
) -> None:
    screen.show(quadrants())
    eyes = eyes_factory(scripted_vlm)

    sight = await eyes.look()

    assert sight.description == SCRIPTED_DESCRIPTION
    assert (sight.width, sight.height) == (1280, 720)
    assert sight.model == "scripted-vlm"
    assert not sight.reused
    assert sight.timings.describe_ms > 0 and sight.timings.total_ms >= sight.timings.capture_ms
    [image] = scripted_vlm.images()
    assert image.media_type == "image/jpeg"
    decoded = image.open()
    assert decoded.format == "JPEG"
    assert decoded.size == (1280, 720)
    [request] = scripted_vlm.chat_requests
    assert text_parts(request) == [DESCRIBE_PROMPT]
    assert request.body["model"] == "scripted-vlm"
    assert request.body["max_tokens"] == 200


async def test_an_unchanged_screen_reuses_the_description(
    screen: XvfbDisplay, scripted_vlm: ScriptedVLM, eyes_factory: Any
) -> None:
    screen.show(quadrants())
    eyes = eyes_factory(scripted_vlm)

    first = await eyes.look()
    again = await eyes.look()

    assert again.reused and again.description == first.description
    assert again.change == 0.0
    assert again.timings.describe_ms == 0.0
    assert len(scripted_vlm.chat_requests) == 1


async def test_a_changed_screen_is_described_again(
    screen: XvfbDisplay, scripted_vlm: ScriptedVLM, eyes_factory: Any
) -> None:
    picture = quadrants()
    screen.show(picture)
    eyes = eyes_factory(scripted_vlm)
    await eyes.look()

    scripted_vlm.set_default(description("A dialog has opened over the editor."))
    screen.show(with_block(picture, (1300, 700, 1539, 859), (250, 250, 250)))
    sight = await eyes.look()

    assert not sight.reused
    assert sight.description == "A dialog has opened over the editor."
    assert 0.005 < sight.change < 0.1
    assert len(scripted_vlm.chat_requests) == 2


async def test_looks_at_the_same_screen_share_one_model_call(
    screen: XvfbDisplay, eyes_factory: Any
) -> None:
    screen.show(quadrants())
    with ScriptedVLM(default=description("One call.", delay_s=0.3)) as vlm:
        eyes = eyes_factory(vlm)
        first, second = await asyncio.gather(eyes.look(), eyes.look())

        assert first.description == second.description == "One call."
        assert len(vlm.chat_requests) == 1


async def test_a_slow_model_costs_the_turn_at_most_timeout_s_and_is_kept_for_later(
    screen: XvfbDisplay, eyes_factory: Any
) -> None:
    screen.show(quadrants())
    with ScriptedVLM(default=description("Late but useful.", delay_s=1.5)) as vlm:
        eyes = eyes_factory(vlm, timeout_s=0.4)

        started = time.perf_counter()
        with pytest.raises(DescriptionTimedOut) as caught:
            await eyes.look()
        waited = time.perf_counter() - started

        assert 0.35 < waited < 1.2  # the limit, not the model's 1.5 s
        assert "did not answer within 0.4 s" in caught.value.reason
        assert caught.value.status.endswith("answering without sight")

        await asyncio.sleep(1.6)  # the answer arrives in the background
        sight = await eyes.look()
        assert sight.reused and sight.description == "Late but useful."
        assert len(vlm.chat_requests) == 1


async def test_a_screen_that_changed_cancels_the_outdated_description(
    screen: XvfbDisplay, eyes_factory: Any
) -> None:
    picture = quadrants()
    screen.show(picture)
    # A answers after B would: were A not cancelled, its stale answer would land last.
    first, second = description("Screen A.", delay_s=1.2), description("Screen B.", delay_s=0.3)
    with ScriptedVLM(first, second) as vlm:
        eyes = eyes_factory(vlm, timeout_s=0.2)
        with pytest.raises(DescriptionTimedOut):
            await eyes.look()  # screen A is being described in the background

        screen.show(with_block(picture, (100, 100, 899, 399), (0, 0, 0)))
        with pytest.raises(DescriptionTimedOut):
            await eyes.look()  # screen B: A's description is stale, so that call is dropped

        await asyncio.sleep(1.3)  # past the moment A would have answered
        sight = await eyes.look()
        assert sight.reused and sight.description == "Screen B."
        assert len(vlm.chat_requests) == 2


async def test_a_failing_model_is_a_description_failure(
    screen: XvfbDisplay, eyes_factory: Any
) -> None:
    screen.show(quadrants())
    with ScriptedVLM(default=Reply.failure(400, error="image input is not supported")) as vlm:
        eyes = eyes_factory(vlm)
        with pytest.raises(DescriptionFailed, match="image input is not supported"):
            await eyes.look()


async def test_an_empty_description_is_a_failure(screen: XvfbDisplay, eyes_factory: Any) -> None:
    screen.show(quadrants())
    with ScriptedVLM(default=Reply.of("  ")) as vlm:
        eyes = eyes_factory(vlm)
        with pytest.raises(DescriptionFailed, match="answered with no description"):
            await eyes.look()


async def test_forget_drops_what_was_seen(
    screen: XvfbDisplay, scripted_vlm: ScriptedVLM, eyes_factory: Any
) -> None:
    screen.show(quadrants())
    eyes = eyes_factory(scripted_vlm)
    await eyes.look()

    eyes.forget()
    sight = await eyes.look()

    assert not sight.reused
    assert len(scripted_vlm.chat_requests) == 2


async def test_no_display_is_clear_and_asks_no_model(
    no_display: None, scripted_vlm: ScriptedVLM, eyes_factory: Any
) -> None:
    eyes = eyes_factory(scripted_vlm)

    with pytest.raises(ScreenUnavailable) as caught:
        await eyes.look()

    assert caught.value.status.startswith("eyes: unavailable (no display")
    assert scripted_vlm.requests == []


async def test_the_eyes_report_whether_they_are_on_and_the_last_problem(
    screen: XvfbDisplay, eyes_factory: Any
) -> None:
    screen.show(quadrants())
    refused = Reply.failure(400, error="image input is not supported")
    with ScriptedVLM(refused, description("A terminal.")) as vlm:
        eyes = eyes_factory(vlm)
        heard: list[ServiceStatus] = []
        eyes.on_status = heard.append
        assert eyes.service_status() == ServiceStatus("eyes", "off", "screen capture is off")

        eyes.turn_on()
        with pytest.raises(DescriptionFailed):
            await eyes.look()
        failed = eyes.service_status()
        assert failed.state == "error" and "image input is not supported" in (failed.detail or "")
        assert not (failed.detail or "").startswith("eyes:")
        await eyes.look()  # the screen is seen again: the problem is over
        seeing = eyes.service_status()
        eyes.turn_off()

        assert [status.state for status in heard] == ["active", "error", "active", "off"]
        assert heard[0].detail.startswith("ON, capturing the screen · ")
        assert heard[1:] == [failed, seeing, ServiceStatus("eyes", "off", "screen capture is off")]
        assert seeing.detail == "ON, capturing the screen · scripted-vlm"


async def test_turning_the_eyes_off_calls_off_a_glance_and_forgets_what_it_saw(
    screen: XvfbDisplay, eyes_factory: Any
) -> None:
    screen.show(quadrants())
    with ScriptedVLM(default=description("Seen ahead of the turn.", delay_s=0.8)) as vlm:
        eyes = eyes_factory(vlm)
        eyes.glance()
        assert not _glances_running(), "with the eyes off, a glance does not look"

        eyes.turn_on()
        eyes.glance()
        await eventually(lambda: vlm.chat_requests, what="the glance to ask the model")
        eyes.turn_off()
        await eventually(lambda: not _glances_running(), what="the glance to be called off")
        await asyncio.sleep(0.9)  # past the moment the model answers

        eyes.turn_on()
        sight = await eyes.look()
        assert not sight.reused, "what the called-off glance would have seen was not kept"
        assert len(vlm.chat_requests) == 2


async def test_a_look_whose_model_call_is_called_off_fails_like_one_that_could_not_see(
    screen: XvfbDisplay, eyes_factory: Any
) -> None:
    """Turning the eyes off, or a newer look at a changed screen, calls off the model call a
    look waits for: that look fails with the reason (the turn goes on), never as cancelled."""
    picture = quadrants()
    screen.show(picture)
    first, second = description("Screen A.", delay_s=1.0), description("Screen B.", delay_s=0.1)
    with ScriptedVLM(first, second, description("Again.", delay_s=1.0)) as vlm:
        eyes = eyes_factory(vlm)
        outdated = asyncio.create_task(eyes.look())
        await eventually(lambda: len(vlm.chat_requests) == 1, what="screen A's model call")
        screen.show(with_block(picture, (100, 100, 899, 399), (0, 0, 0)))
        assert (await eyes.look()).description == "Screen B."
        with pytest.raises(DescriptionFailed, match="the screen changed before it was described"):
            await outdated

        eyes.turn_on()
        screen.show(picture)
        looking = asyncio.create_task(eyes.look())
        await eventually(lambda: len(vlm.chat_requests) == 3, what="the next model call")
        eyes.turn_off()
        with pytest.raises(DescriptionFailed, match="the eyes were turned off during the look"):
            await looking


def _glances_running() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "termmate-eyes-glance"]
