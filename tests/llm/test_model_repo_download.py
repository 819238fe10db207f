"""``local.asr_model = hf:OWNER/REPO``: the whole repository is downloaded once from HF_ENDPOINT
(a loopback mirror), resumably, under a lock, with progress; offline mode never downloads; no
name, the spec's or the hub's, leads outside data_dir/models."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.llm.downloads import Downloads
from agent.llm.errors import NoModelAvailable
from agent.llm.hearing import speech_models, transcribe
from agent.llm.model_repos import COMPLETE_MARKER, resolve_model_folder
from agent.llm.types import DownloadProgress
from config import Settings
from tests.support.hf_mirror import HFMirror, repo_files
from tests.support.speech import SpeechSamples

SPEC = "hf:termmate/tiny-whisper"
REPO = "termmate/tiny-whisper"


def whisper_files(tiny_whisper: Path) -> dict[str, bytes]:
    """The tiny Whisper's files, as the repository holds them (one in a folder)."""
    files = {p.name: p.read_bytes() for p in sorted(tiny_whisper.iterdir()) if p.is_file()}
    files["docs/README.md"] = b"# tiny whisper\n"
    return files


@pytest.fixture
def hub(tiny_whisper: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HFMirror]:
    with HFMirror(repo_files(REPO, whisper_files(tiny_whisper)), page_size=3) as mirror:
        monkeypatch.setenv("HF_ENDPOINT", mirror.endpoint)
        monkeypatch.setenv("HF_TOKEN", "hf_t0ken")
        yield mirror


async def fetch(models_dir: Path, spec: str = SPEC, *, allow_download: bool = True, **kw) -> Path:
    return await resolve_model_folder(
        spec, models_dir, setting="local.asr_model", allow_download=allow_download, **kw
    )


async def test_the_whole_repository_is_downloaded_once_and_then_hears(
    hub: HFMirror, tiny_whisper: Path, tmp_path: Path, speech: SpeechSamples
) -> None:
    seen: list[DownloadProgress] = []
    settings = Settings(data_dir=tmp_path / "data", mode="auto", local={"asr_model": SPEC})
    models = speech_models(settings, downloads=Downloads(publish=seen.append))
    try:
        transcript = await transcribe(models, speech.english.read_bytes())
    finally:
        await models.aclose()
    assert transcript.backend == "local" and transcript.text

    folder = settings.models_dir / "termmate" / "tiny-whisper"
    expected = whisper_files(tiny_whisper)
    for name, data in expected.items():
        assert (folder / name).read_bytes() == data
    assert not list(folder.rglob("*.part"))
    marker = json.loads((folder / COMPLETE_MARKER).read_text())
    assert sorted(f["path"] for f in marker["files"]) == sorted(expected)
    # One bar for the repository, moving forward to its whole size.
    total = sum(len(data) for data in expected.values())
    assert seen and {(p.name, p.total) for p in seen} == {("tiny-whisper", total)}
    assert [p.done for p in seen] == sorted(p.done for p in seen) and seen[-1].done == total
    # The listing came in pages (three files each), and every request carried HF_TOKEN.
    listings = [d for d in hub.downloads if d.path.startswith("/api/")]
    assert len(listings) == 2 and len(hub.file_downloads) == len(expected)
    assert {d.authorization for d in hub.downloads} == {"Bearer hf_t0ken"}

    hub.downloads.clear()  # the next start finds it: nothing is fetched, not even the listing
    assert await fetch(settings.models_dir) == folder
    assert hub.downloads == []


async def test_a_download_cut_short_is_unfinished_and_the_next_try_resumes_it(
    hub: HFMirror, tiny_whisper: Path, tmp_path: Path
) -> None:
    models_dir = tmp_path / "models"
    model_bin = (tiny_whisper / "model.bin").read_bytes()
    # An earlier try got config.json whole; this one is cut 100 kB into model.bin.
    (models_dir / REPO).mkdir(parents=True)
    (models_dir / REPO / "config.json").write_bytes((tiny_whisper / "config.json").read_bytes())
    hub.cut_next_after(100_000)
    with pytest.raises(NoModelAvailable) as caught:
        await fetch(models_dir)
    assert caught.value.reason.startswith(
        f"could not download local.asr_model from {hub.endpoint}/{REPO}/resolve/main/model.bin"
    )
    assert "TERMMATE_LOCAL__ASR_MODEL" in caught.value.reason
    folder = models_dir / REPO
    assert (folder / "model.bin.part").stat().st_size == 100_000
    assert not (folder / COMPLETE_MARKER).exists(), "unfinished: never taken for a model"
    with pytest.raises(NoModelAvailable, match="offline mode downloads nothing"):
        await fetch(models_dir, allow_download=False)

    hub.downloads.clear()
    assert await fetch(models_dir) == folder
    assert (folder / "model.bin").read_bytes() == model_bin
    fetched = {d.path.rsplit("/", 1)[-1]: d.range for d in hub.file_downloads}
    assert "config.json" not in fetched, "a whole file is not fetched again"
    assert fetched["model.bin"] == "bytes=100000-"


async def test_two_processes_wanting_it_at_once_download_it_once(
    hub: HFMirror, tmp_path: Path
) -> None:
    models_dir = tmp_path / "models"
    first, second = await asyncio.gather(fetch(models_dir), fetch(models_dir))
    assert first == second
    assert len(hub.file_downloads) == len(hub.listing(REPO, "main") or [])


async def test_offline_mode_downloads_nothing_and_says_what_to_set(
    hub: HFMirror, tmp_path: Path
) -> None:
    with pytest.raises(NoModelAvailable) as caught:
        await fetch(tmp_path / "models", allow_download=False)
    assert caught.value.reason == (
        f"local.asr_model is {SPEC}, which is not downloaded yet, and offline mode downloads "
        "nothing. Run termmate once in auto mode to fetch it, or set TERMMATE_LOCAL__ASR_MODEL "
        "to a model folder on this machine."
    )
    assert hub.downloads == []


async def test_a_repository_the_hub_does_not_have_gives_a_clear_reason(
    hub: HFMirror, tmp_path: Path
) -> None:
    with pytest.raises(NoModelAvailable) as caught:
        await fetch(tmp_path / "models", "hf:nobody/nothing", remote_hint="TERMMATE_ASR__URL")
    assert caught.value.reason == (
        f"could not download local.asr_model from {hub.endpoint}/api/models/nobody/nothing/tree/"
        "main?recursive=true: HTTP 404. Set TERMMATE_LOCAL__ASR_MODEL to a model folder on this "
        "machine, or TERMMATE_ASR__URL."
    )


@pytest.mark.parametrize(
    "spec",
    ["hf:../x", "hf:owner/..", "hf:./repo", "hf:/etc/passwd", "hf:owner\\repo", "hf:a/b/c", "hf:a"],
)
async def test_a_spec_that_is_not_owner_slash_repo_is_refused(
    spec: str, hub: HFMirror, tmp_path: Path
) -> None:
    with pytest.raises(NoModelAvailable) as caught:
        await fetch(tmp_path / "deep" / "models", spec)
    assert caught.value.reason.startswith(f"local.asr_model: {spec!r}")
    assert "hf:OWNER/REPO" in caught.value.reason
    assert hub.downloads == []


# An absolute path that is nobody's folder: were the check ever to fail, the test must not
# touch a real directory of the machine (the download would create and tighten its folder).
_NOWHERE = "/termmate-test-nowhere/escaped.bin"


@pytest.mark.parametrize(
    "listed", ["../../escaped.bin", _NOWHERE, "a/../../escaped.bin", "a\\..\\x"]
)
async def test_a_hub_listing_a_file_outside_the_folder_gets_nothing_written(
    listed: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = [
        {"type": "file", "path": "config.json", "size": 2},
        {"type": "file", "path": listed, "size": 4},
    ]
    files = {f"/{REPO}/resolve/main/config.json": b"{}", "/escaped.bin": b"evil"}
    with HFMirror(files, listings={REPO: entries}) as hostile:
        monkeypatch.setenv("HF_ENDPOINT", hostile.endpoint)
        root = tmp_path / "root"
        models_dir = root / "a" / "b" / "models"
        with pytest.raises(NoModelAvailable) as caught:
            await fetch(models_dir)
        assert f"the listed file {listed!r}" in caught.value.reason
        assert hostile.file_downloads == [], "refused before any file was fetched"
    assert [p for p in root.rglob("*") if p.is_file() and ".locks" not in p.parts] == []
