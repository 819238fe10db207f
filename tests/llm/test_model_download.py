"""``local.chat_model = hf:OWNER/REPO/FILE.gguf``: downloaded once, from HF_ENDPOINT (loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.llm.errors import NoModelAvailable
from agent.llm.local import LocalChat
from agent.llm.types import ChatRequest, DownloadProgress
from config import LocalSettings
from tests.support.cli import run_termmate
from tests.support.hf_mirror import HFMirror
from tests.support.llama_server import free_port

SPEC = "hf:termmate/tiny-GGUF/tiny-chat.gguf"
HUB_PATH = "/termmate/tiny-GGUF/resolve/main/tiny-chat.gguf"
HELLO = ChatRequest(messages=[{"role": "user", "content": "hello"}], max_tokens=8)


@pytest.fixture
def mirror(tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HFMirror]:
    with HFMirror({HUB_PATH: tiny_gguf.read_bytes()}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        yield hub


def _chat(models_dir: Path, *, progress=None) -> LocalChat:
    return LocalChat(LocalSettings(chat_model=SPEC, n_ctx=512), models_dir, progress=progress)


async def _answer(chat: LocalChat, *, allow_download: bool = True) -> str:
    """Load (downloading when allowed, as auto and online mode do) and answer "hello"."""
    try:
        await chat.prepare(allow_download=allow_download)
        return "".join([piece async for piece in chat.stream(HELLO)])
    finally:
        await chat.aclose()


async def test_an_hf_model_is_downloaded_once_with_progress_and_then_loads(
    mirror: HFMirror, tiny_gguf: Path, tmp_path: Path
) -> None:
    models = tmp_path / "data" / "models"
    seen: list[DownloadProgress] = []
    assert (await _answer(_chat(models, progress=seen.append))).strip()

    target = models / "termmate" / "tiny-GGUF" / "tiny-chat.gguf"
    assert target.read_bytes() == tiny_gguf.read_bytes()
    assert list(target.parent.iterdir()) == [target]  # no .part left behind
    size = tiny_gguf.stat().st_size
    assert seen and all(p.name == "tiny-chat.gguf" and p.total == size for p in seen)
    assert [p.done for p in seen] == sorted({p.done for p in seen})  # it only moves forward
    assert seen[-1].done == size
    assert [(d.path, d.status) for d in mirror.downloads] == [(HUB_PATH, 200)]

    # The next start finds the file: nothing is downloaded again.
    assert (await _answer(_chat(models))).strip()
    assert len(mirror.downloads) == 1


async def test_a_partial_download_is_resumed(
    mirror: HFMirror, tiny_gguf: Path, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    data = tiny_gguf.read_bytes()
    partial = models / "termmate" / "tiny-GGUF" / "tiny-chat.gguf.part"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(data[:100_000])
    seen: list[DownloadProgress] = []

    assert (await _answer(_chat(models, progress=seen.append))).strip()
    assert (partial.parent / "tiny-chat.gguf").read_bytes() == data
    assert [(d.range, d.status, d.sent) for d in mirror.downloads] == [
        ("bytes=100000-", 206, len(data) - 100_000)
    ]
    assert seen[0].done > 100_000 and seen[-1].done == seen[-1].total == len(data)


async def test_a_dropped_download_says_so_and_the_next_try_resumes_it(
    mirror: HFMirror, tiny_gguf: Path, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    data = tiny_gguf.read_bytes()
    mirror.cut_next_after(200_000)
    with pytest.raises(NoModelAvailable) as caught:
        await _answer(_chat(models))
    reason = caught.value.reason
    assert f"could not download local.chat_model from {mirror.endpoint}{HUB_PATH}" in reason
    assert "TERMMATE_LOCAL__CHAT_MODEL" in reason
    partial = models / "termmate" / "tiny-GGUF" / "tiny-chat.gguf.part"
    assert partial.stat().st_size == 200_000, "what arrived is kept for the next try"

    assert (await _answer(_chat(models))).strip()
    assert (partial.parent / "tiny-chat.gguf").read_bytes() == data
    assert [d.range for d in mirror.downloads] == [None, "bytes=200000-"]


async def test_offline_mode_downloads_nothing_and_says_what_to_set(
    mirror: HFMirror, tmp_path: Path
) -> None:
    with pytest.raises(NoModelAvailable) as caught:
        await _answer(_chat(tmp_path / "models"), allow_download=False)
    reason = caught.value.reason
    assert SPEC in reason and "offline mode downloads nothing" in reason
    assert "TERMMATE_LOCAL__CHAT_MODEL" in reason
    assert mirror.downloads == []


async def test_an_unreachable_hub_gives_a_clear_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    with pytest.raises(NoModelAvailable) as caught:
        await _answer(_chat(tmp_path / "models"))
    reason = caught.value.reason
    assert reason.startswith(f"could not download local.chat_model from {endpoint}{HUB_PATH}")
    assert "connect" in reason.lower() or "refused" in reason.lower()
    assert "Set TERMMATE_LOCAL__CHAT_MODEL to a GGUF file" in reason


async def test_a_file_the_hub_does_not_have_gives_a_clear_reason(
    mirror: HFMirror, tmp_path: Path
) -> None:
    chat = LocalChat(
        LocalSettings(chat_model="hf:termmate/tiny-GGUF/other.gguf"),
        tmp_path / "models",
    )
    with pytest.raises(NoModelAvailable) as caught:
        await _answer(chat)
    assert "HTTP 404" in caught.value.reason and "TERMMATE_LOCAL__CHAT_MODEL" in caught.value.reason


async def test_a_malformed_hf_spec_says_what_form_is_expected(tmp_path: Path) -> None:
    chat = LocalChat(LocalSettings(chat_model="hf:just-a-name.gguf"), tmp_path / "models")
    with pytest.raises(NoModelAvailable) as caught:
        await _answer(chat)
    assert "hf:OWNER/REPO/FILE.gguf" in caught.value.reason


def test_termmate_ask_shows_download_progress_and_answers(
    mirror: HFMirror, termmate_env: dict[str, str], tiny_gguf: Path
) -> None:
    env = {**termmate_env, "TERMMATE_LOCAL__CHAT_MODEL": SPEC, "TERMMATE_MODE": "auto"}
    done = run_termmate(env, "ask", "hello")
    assert done.returncode == 0, done.stderr
    assert "downloading tiny-chat.gguf" in done.stderr and "100%" in done.stderr
    assert done.stdout.strip()
    models = Path(termmate_env["TERMMATE_DATA_DIR"]) / "models"
    assert (models / "termmate" / "tiny-GGUF" / "tiny-chat.gguf").stat().st_size == (
        tiny_gguf.stat().st_size
    )
