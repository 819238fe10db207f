"""An ``hf:`` model spec names a file inside data_dir/models, never a path out of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.llm.errors import NoModelAvailable
from agent.llm.local import LocalChat
from agent.llm.model_files import HFFile
from agent.llm.types import ChatRequest
from config import LocalSettings
from tests.support.cli import run_termmate
from tests.support.hf_mirror import HFMirror

HELLO = ChatRequest(messages=[{"role": "user", "content": "hello"}], max_tokens=8)

ESCAPING_SPECS = [
    "hf:../../../escaped.gguf",
    "hf:owner/../x.gguf",
    "hf:/etc/x.gguf",
    "hf:owner/repo/../../x.gguf",
    "hf:owner/repo/../../../../x.gguf",
    "hf:owner/repo/./x.gguf",
    "hf:owner/repo/sub//x.gguf",
    "hf:owner/repo/..\\..\\x.gguf",
]


class _Anything(dict):
    """The mirror's files: whatever path is asked for, here is a GGUF (a hub that serves
    anything, so only termmate's own checks stand between a spec and the disk)."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self.data = data

    def get(self, key: object, default: object = None) -> bytes:
        return self.data


@pytest.fixture
def any_file_hub(tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HFMirror]:
    with HFMirror(_Anything(tiny_gguf.read_bytes())) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        yield hub


def _files_under(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file()}


async def _answer(spec: str, models: Path) -> str:
    chat = LocalChat(LocalSettings(chat_model=spec, n_ctx=512), models)
    try:
        await chat.prepare(allow_download=True)
        return "".join([piece async for piece in chat.stream(HELLO)])
    finally:
        await chat.aclose()


@pytest.mark.parametrize("spec", ESCAPING_SPECS)
async def test_a_spec_leading_out_of_models_is_refused_before_any_download(
    spec: str, any_file_hub: HFMirror, tmp_path: Path
) -> None:
    # Deep enough that whatever escapes still lands inside tmp_path, where the test looks.
    root = tmp_path / "root"
    models = root / "a" / "b" / "data" / "models"
    models.mkdir(parents=True)

    with pytest.raises(NoModelAvailable) as caught:
        await _answer(spec, models)

    reason = caught.value.reason
    assert reason.startswith(f"local.chat_model: {spec!r}")
    assert "hf:OWNER/REPO/FILE.gguf" in reason and "TERMMATE_LOCAL__CHAT_MODEL" in reason
    assert any_file_hub.downloads == []
    assert _files_under(root) == set(), "nothing is written, inside models/ or out of it"


def test_local_path_refuses_parts_that_lead_out_of_models(tmp_path: Path) -> None:
    # The second line of defence, for an HFFile not made by parse().
    with pytest.raises(ValueError, match="leads outside"):
        HFFile("..", "..", "escaped.gguf").local_path(tmp_path / "data" / "models")
    inside = HFFile("owner", "repo", "sub/x.gguf").local_path(tmp_path / "models")
    assert inside == tmp_path / "models" / "owner" / "repo" / "sub" / "x.gguf"


async def test_a_file_in_a_folder_of_the_repository_still_downloads(
    any_file_hub: HFMirror, tiny_gguf: Path, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    assert (await _answer("hf:termmate/tiny-GGUF/q4/tiny-chat.gguf", models)).strip()
    target = models / "termmate" / "tiny-GGUF" / "q4" / "tiny-chat.gguf"
    assert target.read_bytes() == tiny_gguf.read_bytes()
    assert [d.path for d in any_file_hub.downloads] == [
        "/termmate/tiny-GGUF/resolve/main/q4/tiny-chat.gguf"
    ]


def test_termmate_ask_refuses_the_spec_from_the_issue(
    any_file_hub: HFMirror, termmate_env: dict[str, str], tmp_path: Path
) -> None:
    root = tmp_path / "root"
    data = root / "a" / "b" / "data"
    env = {
        **termmate_env,
        "TERMMATE_DATA_DIR": str(data),
        "TERMMATE_MODE": "auto",
        "TERMMATE_LOCAL__CHAT_MODEL": "hf:../../../escaped.gguf",
    }
    done = run_termmate(env, "ask", "hello")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "local.chat_model" in done.stderr and "hf:OWNER/REPO/FILE.gguf" in done.stderr
    assert any_file_hub.downloads == []
    assert not [path for path in _files_under(root) if not path.is_relative_to(data)]
    assert not list(root.rglob("*.gguf"))
