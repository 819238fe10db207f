"""The eyes' models: the remote VLM over loopback HTTP, the local one's errors, the mode rules."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from agent.llm.errors import ModelUnavailable, NoModelAvailable, RequestRejected
from agent.llm.vision import SightModel, vision_models
from agent.llm.vision_local import LocalVision
from agent.llm.vision_remote import RemoteVision
from config import LocalSettings, Mode, Settings, VLMSettings
from tests.support.scripted_openai import Reply
from tests.support.scripted_vlm import ScriptedVLM, description, text_parts
from tests.support.waiting import eventually
from vision import DescriptionFailed, NoVisionModel, get_visual_description


def jpeg(size: tuple[int, int] = (320, 180)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buffer, "JPEG")
    return buffer.getvalue()


def settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(data_dir=tmp_path / "data", **values)


def sight(config: Settings) -> SightModel:
    """The eyes' model as the Companion builds it: the vision models behind SightModel."""
    return SightModel(vision_models(config))


# -- the remote VLM -----------------------------------------------------------------------------


async def test_remote_sends_image_and_prompt_and_returns_the_text() -> None:
    with ScriptedVLM(default=description("A spreadsheet with a red cell.")) as vlm:
        remote = RemoteVision(VLMSettings(url=vlm.url, api_key="s3cret"), max_tokens=99)
        try:
            text = await remote.describe(jpeg((320, 180)), "What is on screen?")
        finally:
            await remote.aclose()

        assert text == "A spreadsheet with a red cell."
        assert remote.label == "scripted-vlm"  # learnt from GET /v1/models
        [request] = vlm.chat_requests
        assert request.authorization == "Bearer s3cret"
        assert request.body["model"] == "scripted-vlm"
        assert request.body["max_tokens"] == 99
        assert request.body["stream"] is False
        assert text_parts(request) == ["What is on screen?"]
        [image] = vlm.images()
        assert image.media_type == "image/jpeg"
        assert image.open().size == (320, 180)


async def test_remote_uses_the_configured_model_without_asking() -> None:
    with ScriptedVLM(model="qwen2.5-vl") as vlm:
        remote = RemoteVision(VLMSettings(url=vlm.url, model="qwen2.5-vl"), max_tokens=50)
        try:
            await remote.describe(jpeg(), "p")
        finally:
            await remote.aclose()
        assert vlm.model_requests == []


async def test_remote_errors_say_what_happened() -> None:
    with ScriptedVLM(default=Reply.failure(400, error="images are not supported")) as vlm:
        remote = RemoteVision(VLMSettings(url=vlm.url), max_tokens=50)
        try:
            with pytest.raises(RequestRejected, match="images are not supported"):
                await remote.describe(jpeg(), "p")
        finally:
            await remote.aclose()

    remote = RemoteVision(VLMSettings(url=vlm.url, max_retries=0), max_tokens=50)  # now stopped
    try:
        with pytest.raises(ModelUnavailable, match="connection refused"):
            await remote.describe(jpeg(), "p")
    finally:
        await remote.aclose()


# -- the router: modes and fallback --------------------------------------------------------------


async def test_nothing_configured_says_what_to_set(tmp_path: Path) -> None:
    model = sight(settings(tmp_path))
    try:
        assert not model.models.configured
        with pytest.raises(NoVisionModel) as caught:
            await get_visual_description(jpeg(), model)
    finally:
        await model.models.aclose()
    assert caught.value.reason == (
        "no vision model configured (set TERMMATE_VLM__URL or TERMMATE_LOCAL__VISION_MODEL)"
    )
    assert caught.value.status == (
        "eyes: no vision model configured (set TERMMATE_VLM__URL or TERMMATE_LOCAL__VISION_MODEL)"
    )


async def test_online_without_a_remote_says_so(tmp_path: Path) -> None:
    model = sight(settings(tmp_path, mode="online", local={"vision_model": "x.gguf"}))
    try:
        with pytest.raises(NoVisionModel, match="online mode needs a remote vision model"):
            await model.describe(jpeg(), "p")
    finally:
        await model.models.aclose()


async def test_offline_never_touches_the_remote(tmp_path: Path) -> None:
    with ScriptedVLM() as vlm:
        model = sight(settings(tmp_path, mode="offline", vlm={"url": vlm.url}))
        try:
            assert model.models.remote is None
            with pytest.raises(NoVisionModel, match="offline mode needs a local vision model"):
                await model.describe(jpeg(), "p")
        finally:
            await model.models.aclose()
        assert vlm.requests == []


async def test_switching_to_offline_closes_the_remote(tmp_path: Path) -> None:
    with ScriptedVLM() as vlm:
        model = sight(settings(tmp_path, mode="auto", vlm={"url": vlm.url}))
        try:
            assert await model.describe(jpeg(), "p")
            await model.models.set_mode(Mode.OFFLINE)
            assert model.models.remote is None and model.models.answering() is None
            with pytest.raises(NoVisionModel):
                await model.describe(jpeg(), "p")
        finally:
            await model.models.aclose()
        assert len(vlm.chat_requests) == 1


async def test_auto_falls_back_to_local_and_returns_to_the_remote(
    tmp_path: Path, tiny_gguf: Path
) -> None:
    """The remote fails → the local model is tried (here it cannot run: a chat GGUF is no
    projector) → while falling back the remote is left alone, but for a probe every
    retry_remote_after_s → once a probe finds it back, it describes again."""
    with ScriptedVLM(default=Reply.failure(503)) as vlm:
        config = settings(
            tmp_path,
            mode="auto",
            vlm={"url": vlm.url, "max_retries": 0, "retry_remote_after_s": 0.2},
            local={"vision_model": str(tiny_gguf), "vision_mmproj": str(tiny_gguf)},
        )
        model = sight(config)
        try:
            assert model.models.answering() == "remote"
            with pytest.raises(NoVisionModel) as caught:
                await model.describe(jpeg(), "p")
            reason = caught.value.reason
            assert reason.startswith("the remote vision model is unavailable (")
            assert "HTTP 503" in reason
            assert "could not load" in reason and "vision projector" in reason
            assert model.models.answering() == "local"
            assert model.models.fallback_reason is not None

            vlm.set_models_status(503)  # the probe finds it still down
            with pytest.raises(NoVisionModel):
                await model.describe(jpeg(), "p")  # while falling back: local only
            assert len(vlm.chat_requests) == 1

            vlm.set_models_status(200)
            vlm.set_default(description("Back again."))
            await eventually(lambda: model.models.answering() == "remote", timeout_s=10)
            assert await model.describe(jpeg(), "p") == "Back again."
            assert model.models.fallback_reason is None and model.last_backend == "remote"
        finally:
            await model.models.aclose()


async def test_auto_without_a_local_model_reports_the_remote_error(tmp_path: Path) -> None:
    with ScriptedVLM(default=Reply.failure(503)) as vlm:
        config = settings(tmp_path, mode="auto", vlm={"url": vlm.url, "max_retries": 0})
        model = sight(config)
        try:
            with pytest.raises(DescriptionFailed, match="failed with HTTP 503"):
                await model.describe(jpeg(), "p")
        finally:
            await model.models.aclose()


# -- the local VLM (real llama.cpp) ---------------------------------------------------------------


def local_vision(tmp_path: Path, **local: Any) -> LocalVision:
    return LocalVision(LocalSettings(**local), tmp_path / "models", max_tokens=16)


async def test_local_without_a_model_says_what_to_set(tmp_path: Path) -> None:
    vision = local_vision(tmp_path)
    with pytest.raises(NoModelAvailable, match="set TERMMATE_LOCAL__VISION_MODEL"):
        await vision.describe(jpeg(), "p")


async def test_local_without_an_mmproj_says_what_to_set(tmp_path: Path, tiny_gguf: Path) -> None:
    vision = local_vision(tmp_path, vision_model=str(tiny_gguf))
    with pytest.raises(
        NoModelAvailable, match=r"local\.vision_mmproj is not: set TERMMATE_LOCAL__"
    ):
        await vision.describe(jpeg(), "p")


async def test_local_with_a_missing_mmproj_file_names_it(tmp_path: Path, tiny_gguf: Path) -> None:
    missing = tmp_path / "mmproj-missing.gguf"
    vision = local_vision(tmp_path, vision_model=str(tiny_gguf), vision_mmproj=str(missing))
    with pytest.raises(NoModelAvailable, match=f"local.vision_mmproj: no GGUF file at {missing}"):
        await vision.describe(jpeg(), "p")


async def test_local_offline_does_not_download_an_hf_mmproj(
    tmp_path: Path, tiny_gguf: Path
) -> None:
    vision = local_vision(
        tmp_path, vision_model=str(tiny_gguf), vision_mmproj="hf:acme/vlm-GGUF/mmproj-f16.gguf"
    )
    with pytest.raises(NoModelAvailable, match="offline mode downloads nothing"):
        await vision.describe(jpeg(), "p")


async def test_local_with_a_file_that_is_no_projector_is_a_clear_error(
    tmp_path: Path, tiny_gguf: Path
) -> None:
    """Real llama.cpp (mtmd) is handed a text-only GGUF as the projector: an error, no crash."""
    vision = local_vision(tmp_path, vision_model=str(tiny_gguf), vision_mmproj=str(tiny_gguf))
    try:
        with pytest.raises(NoModelAvailable, match=r"could not load .* as the vision projector"):
            await vision.describe(jpeg(), "p")
    finally:
        await vision.aclose()


async def test_local_describes_a_frame_with_real_llama_cpp(
    tmp_path: Path, tiny_vlm: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """The tiny VLM (random weights) runs the whole path: data URI → mtmd encodes the image
    with the projector → its tokens reach the model → text comes back (gibberish)."""
    model, mmproj = tiny_vlm
    vision = local_vision(tmp_path, vision_model=str(model), vision_mmproj=str(mmproj), n_ctx=512)
    caplog.set_level(logging.DEBUG, logger="llama.cpp.mtmd")
    try:
        text = await vision.describe(jpeg((320, 180)), "What is on screen?")
        again = await vision.describe(jpeg((64, 64)), "And now?")  # the loaded model is reused
    finally:
        await vision.aclose()

    assert isinstance(text, str) and isinstance(again, str)
    assert vision.label == model.name
    encoded = [r.getMessage() for r in caplog.records if r.name == "llama.cpp.mtmd"]
    assert sum("encoding image" in m for m in encoded) == 2, encoded


async def test_offline_sight_describes_with_the_local_model(
    tmp_path: Path, tiny_vlm: tuple[Path, Path]
) -> None:
    model_file, mmproj = tiny_vlm
    config = settings(
        tmp_path,
        mode="offline",
        local={"vision_model": str(model_file), "vision_mmproj": str(mmproj), "n_ctx": 512},
    )
    model = sight(config)
    try:
        assert model.models.answering() == "local" and model.label == model_file.name
        text = await model.describe(jpeg(), "p")
    finally:
        await model.models.aclose()
    assert isinstance(text, str)
    assert model.last_backend == "local"
