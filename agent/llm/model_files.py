"""Find a GGUF file: a local path, or ``hf:OWNER/REPO/FILE.gguf`` downloaded once.

The hub download itself (resumable, through a ``.part`` file) is shared with whole-repository
downloads (``model_repos.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config import env_name, private_dir, redact_secrets, redact_url

from ..filelock import FileLock
from .errors import NoModelAvailable
from .types import DownloadProgress, ProgressCallback

HF_PREFIX = "hf:"
DEFAULT_HF_ENDPOINT = "https://huggingface.co"
HF_FORM = (
    "hf:OWNER/REPO/FILE.gguf (FILE may sit in folders of the repository: "
    "hf:OWNER/REPO/folder/FILE.gguf)"
)


@dataclass(frozen=True, slots=True)
class HFFile:
    """A file in a Hugging Face model repository."""

    owner: str
    repo: str
    filename: str
    revision: str = "main"

    @classmethod
    def parse(cls, spec: str) -> HFFile:
        """``hf:OWNER/REPO/FILE.gguf[@REVISION]``; ValueError saying what is wrong otherwise.

        Every part becomes a folder under data_dir/models, so none may lead out of it: empty,
        "." and ".." segments, absolute paths and backslashes are refused.
        """
        body = spec.removeprefix(HF_PREFIX)
        body, _, revision = body.partition("@")
        parts = body.split("/", 2)
        if len(parts) != 3 or not parts[2].endswith(".gguf"):
            raise ValueError(f"{spec!r} is not of the form {HF_FORM}")
        problem = path_problem(body)
        if problem:
            raise ValueError(f"{spec!r} {problem}; expected {HF_FORM}")
        return cls(parts[0], parts[1], parts[2], revision or "main")

    def url(self, endpoint: str) -> str:
        base = endpoint.rstrip("/")
        return f"{base}/{self.owner}/{self.repo}/resolve/{self.revision}/{self.filename}"

    def local_path(self, models_dir: Path) -> Path:
        """Where the file is kept: ``models_dir/OWNER/REPO/FILE``; ValueError should that
        lead outside ``models_dir`` (parse() already refuses every spec that would)."""
        path = models_dir / self.owner / self.repo / self.filename
        if not is_inside(models_dir, path):
            spec = f"{HF_PREFIX}{self.owner}/{self.repo}/{self.filename}"
            raise ValueError(f"{spec!r} leads outside {models_dir}; expected {HF_FORM}")
        return path

    @property
    def lock_name(self) -> str:
        """One flat file name per file (for the download lock)."""
        return f"{self.owner}--{self.repo}--{self.filename.replace('/', '--')}.lock"


def is_inside(folder: Path, path: Path) -> bool:
    """Whether ``path`` (normalised, not resolved) lies inside ``folder``."""
    inside = os.path.normpath(folder)
    return os.path.commonpath([inside, os.path.normpath(path)]) == inside


def path_problem(path: str) -> str | None:
    """Why ``OWNER/REPO/FILE`` could lead outside the models folder (None: it cannot)."""
    if "\\" in path:
        return "contains a backslash"
    if "\0" in path:
        return "contains a NUL character"
    if path.startswith("/"):
        return "is an absolute path"
    for segment in path.split("/"):
        if segment in ("", ".", ".."):
            return f"has a '{segment}' folder in it" if segment else "has an empty folder name"
    return None


def display_name(spec: str) -> str:
    """The file name to show for a model setting."""
    return Path(spec.removeprefix(HF_PREFIX).partition("@")[0]).name


async def resolve_model_file(
    spec: str,
    models_dir: Path,
    *,
    setting: str,
    allow_download: bool,
    progress: ProgressCallback | None = None,
) -> Path:
    """The local path of the GGUF named by ``spec``, downloading it when that is allowed.

    ``setting`` names the setting for error messages (e.g. ``"local.chat_model"``).
    """
    env = env_name(setting)
    if not spec.startswith(HF_PREFIX):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise NoModelAvailable(f"{setting}: no GGUF file at {path}; set {env} to a GGUF file")
        return path

    try:
        hf_file = HFFile.parse(spec)
        target = hf_file.local_path(models_dir)
    except ValueError as exc:
        raise NoModelAvailable(
            f"{setting}: {exc}. Set {env} to such a spec or to a GGUF file on this machine."
        ) from None
    if target.is_file():
        return target
    if not allow_download:
        raise NoModelAvailable(
            f"{setting} is {spec}, which is not downloaded yet, and offline mode downloads "
            f"nothing. Run termmate once in auto mode to fetch it, or set {env} to a GGUF "
            "file on this machine."
        )
    # Two termmate processes may want the same file at once: one downloads, the other waits.
    lock = models_dir / ".locks" / hf_file.lock_name
    async with FileLock(lock):
        if not target.is_file():
            await _download(hf_file, target, setting=setting, env=env, progress=progress)
    return target


async def _download(
    hf_file: HFFile, target: Path, *, setting: str, env: str, progress: ProgressCallback | None
) -> None:
    url = hf_file.url(hub_endpoint())

    def fail(why: str) -> NoModelAvailable:
        # HF_ENDPOINT may be a private mirror with a password in its URL.
        return NoModelAvailable(
            f"could not download {setting} from {redact_url(url)}: {redact_secrets(why)}. "
            f"Set {env} to a GGUF file on this machine, or TERMMATE_LLM__URL to a model server."
        )

    def report(done: int, total: int | None) -> None:
        if progress is not None:
            progress(DownloadProgress(hf_file.filename, done, total))

    async with hub_client() as client:
        await fetch_file(client, url, target, fail=fail, on_progress=report)


# -- the hub, shared by file and repository downloads -------------------------------------------


def hub_client() -> Any:
    """An httpx.AsyncClient for the hub: it follows the hub's redirects (to its file CDN) and
    gives up after 30 s without data or 10 s without a connection."""
    import httpx

    return httpx.AsyncClient(follow_redirects=True, timeout=httpx.Timeout(30.0, connect=10.0))


def hub_endpoint() -> str:
    """The hub to download from: HF_ENDPOINT (a mirror), else huggingface.co."""
    return os.environ.get("HF_ENDPOINT", DEFAULT_HF_ENDPOINT).rstrip("/")


def hub_headers() -> dict[str, str]:
    """Headers for every hub request: HF_TOKEN as a Bearer token (gated or private models)."""
    token = os.environ.get("HF_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


ByteProgress = Callable[[int, int | None], None]
"""Called as bytes arrive with (bytes of the file so far, its size or None)."""


async def fetch_file(
    client: Any,
    url: str,
    target: Path,
    *,
    fail: Callable[[str], NoModelAvailable],
    on_progress: ByteProgress | None = None,
) -> None:
    """Download ``url`` to ``target`` through ``target.part``, resuming what an earlier try
    left there; ``fail(why)`` makes the error to raise. ``client`` is an httpx.AsyncClient."""
    import httpx

    headers = hub_headers()
    partial = target.with_name(target.name + ".part")
    private_dir(target.parent)
    done = partial.stat().st_size if partial.exists() else 0
    if done:
        headers["Range"] = f"bytes={done}-"
    total: int | None = None
    try:
        async with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 416:  # the partial file is already whole
                partial.replace(target)
                return
            if response.status_code >= 400:
                raise fail(f"HTTP {response.status_code}")
            if response.status_code != 206:
                done = 0  # the server ignored Range: start over
            length = response.headers.get("content-length")
            total = done + int(length) if length and length.isdigit() else None
            with partial.open("ab" if done else "wb") as handle:
                # As the bytes arrive (not in 1 MiB lumps): what came before a dropped
                # connection stays in the .part file, and the next try resumes from there.
                async for chunk in response.aiter_bytes():
                    handle.write(chunk)
                    done += len(chunk)
                    if on_progress is not None:
                        on_progress(done, total)
    except httpx.HTTPError as exc:
        raise fail(str(exc) or type(exc).__name__) from None
    if total is not None and done != total:
        raise fail(f"the download stopped at {done} of {total} bytes; run again to resume")
    partial.replace(target)
