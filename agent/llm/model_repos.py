"""Find a model folder: a local path, or ``hf:OWNER/REPO`` (a whole repository) downloaded once.

Some models are a folder, not a file: a CTranslate2 Whisper model is ``model.bin`` beside its
``config.json``, ``tokenizer.json`` and vocabulary. ``hf:OWNER/REPO[@REVISION]`` lists the
repository through the hub's API (``GET {HF_ENDPOINT}/api/models/OWNER/REPO/tree/REVISION``)
and downloads every file into ``data_dir/models/OWNER/REPO/`` with the file downloader
(resumable, under a lock shared by every termmate process, progress reported for the whole
repository). The folder counts as downloaded only once every file is: a marker written last
says so. Offline mode never downloads.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from config import env_name, private_dir, redact_secrets, redact_url

from ..filelock import FileLock
from .errors import NoModelAvailable
from .model_files import (
    HF_PREFIX,
    fetch_file,
    hub_client,
    hub_endpoint,
    hub_headers,
    is_inside,
    path_problem,
)
from .types import DownloadProgress, ProgressCallback

HF_REPO_FORM = "hf:OWNER/REPO (optionally @REVISION)"

COMPLETE_MARKER = ".termmate-complete.json"
"""Written into the folder after its last file: without it, a download is unfinished."""

_MAX_LISTING_BYTES = 16 << 20
"""Largest page of a repository listing read (a listing of thousands of files is < 1 MiB)."""


@dataclass(frozen=True, slots=True)
class HFRepo:
    """A Hugging Face model repository."""

    owner: str
    repo: str
    revision: str = "main"

    @classmethod
    def parse(cls, spec: str) -> HFRepo:
        """``hf:OWNER/REPO[@REVISION]``; ValueError saying what is wrong otherwise.

        Both parts become folders under data_dir/models, so neither may lead out of it.
        """
        body, _, revision = spec.removeprefix(HF_PREFIX).partition("@")
        problem = path_problem(body)
        if problem:
            raise ValueError(f"{spec!r} {problem}; expected {HF_REPO_FORM}")
        parts = body.split("/")
        if len(parts) != 2:
            raise ValueError(f"{spec!r} is not of the form {HF_REPO_FORM}")
        return cls(parts[0], parts[1], revision or "main")

    @property
    def name(self) -> str:
        return f"{self.owner}/{self.repo}"

    def tree_url(self, endpoint: str) -> str:
        """The hub API listing every file of the repository at its revision."""
        revision = quote(self.revision, safe="")
        return f"{endpoint}/api/models/{self.name}/tree/{revision}?recursive=true"

    def file_url(self, endpoint: str, path: str) -> str:
        return f"{endpoint}/{self.name}/resolve/{quote(self.revision, safe='')}/{quote(path)}"

    def local_dir(self, models_dir: Path) -> Path:
        """Where the repository is kept: ``models_dir/OWNER/REPO``; ValueError should that
        lead outside ``models_dir`` (parse() already refuses every spec that would)."""
        folder = models_dir / self.owner / self.repo
        if not is_inside(models_dir, folder) or folder == models_dir:
            raise ValueError(f"'{HF_PREFIX}{self.name}' leads outside {models_dir}")
        return folder

    @property
    def lock_name(self) -> str:
        return f"{self.owner}--{self.repo}.lock"


@dataclass(frozen=True, slots=True)
class RepoFile:
    """A file the hub lists: its path in the repository and its size (None: not given)."""

    path: str
    size: int | None


def is_downloaded(folder: Path) -> bool:
    """Whether ``folder`` holds a whole downloaded repository."""
    return (folder / COMPLETE_MARKER).is_file()


async def resolve_model_folder(
    spec: str,
    models_dir: Path,
    *,
    setting: str,
    allow_download: bool,
    progress: ProgressCallback | None = None,
    remote_hint: str = "",
) -> Path:
    """The local folder of the model named by ``spec``, downloading it when that is allowed.

    ``setting`` names the setting for error messages (e.g. ``"local.asr_model"``);
    ``remote_hint`` is the other way out a failed download mentions (e.g. "TERMMATE_ASR__URL
    to a speech recognition server").
    """
    env = env_name(setting)
    if not spec.startswith(HF_PREFIX):
        path = Path(spec).expanduser()
        if not path.is_dir():
            raise NoModelAvailable(
                f"{setting}: no model folder at {path}; set {env} to a model folder or "
                f"{HF_REPO_FORM}"
            )
        return path
    try:
        repo = HFRepo.parse(spec)
        folder = repo.local_dir(models_dir)
    except ValueError as exc:
        raise NoModelAvailable(
            f"{setting}: {exc}. Set {env} to such a spec or to a model folder on this machine."
        ) from None
    if is_downloaded(folder):
        return folder
    if not allow_download:
        raise NoModelAvailable(
            f"{setting} is {spec}, which is not downloaded yet, and offline mode downloads "
            f"nothing. Run termmate once in auto mode to fetch it, or set {env} to a model "
            "folder on this machine."
        )
    # Two termmate processes may want the same model at once: one downloads, the other waits.
    async with FileLock(models_dir / ".locks" / repo.lock_name):
        if not is_downloaded(folder):
            download = _RepoDownload(repo, folder, setting, env, remote_hint, progress)
            await download.run()
    return folder


class _RepoDownload:
    """One download of a whole repository into its folder."""

    def __init__(
        self,
        repo: HFRepo,
        folder: Path,
        setting: str,
        env: str,
        remote_hint: str,
        progress: ProgressCallback | None,
    ) -> None:
        self.repo = repo
        self.folder = folder
        self.setting = setting
        self.endpoint = hub_endpoint()
        self._progress = progress
        also = f", or {remote_hint}" if remote_hint else ""
        self._advice = f"Set {env} to a model folder on this machine{also}."

    def fail(self, url: str, why: str) -> NoModelAvailable:
        # HF_ENDPOINT may be a private mirror with a password in its URL.
        return NoModelAvailable(
            f"could not download {self.setting} from {redact_url(url)}: "
            f"{redact_secrets(why)}. {self._advice}"
        )

    async def run(self) -> None:
        async with hub_client() as client:
            files = await self._list(client)
            total = None if any(f.size is None for f in files) else sum(f.size or 0 for f in files)
            done = 0
            for item in files:
                target = self.folder / item.path
                if not _already_whole(target, item.size):
                    await self._fetch(client, item, target, done, total)
                done += target.stat().st_size
                self._report(done, total)
        if total is None:  # say it is over: without a total, no report looked whole
            self._report(done, done)
        self._mark_complete(files)

    async def _list(self, client: Any) -> list[RepoFile]:
        """Every file of the repository (following the listing's pages), each checked to stay
        inside the folder."""
        url: str | None = self.repo.tree_url(self.endpoint)
        files: list[RepoFile] = []
        while url is not None:
            page, url = await self._listing_page(client, url)
            files += [self._checked(entry) for entry in page if entry.get("type") == "file"]
        if not files:
            raise self.fail(self.repo.tree_url(self.endpoint), "the repository lists no files")
        return files

    async def _listing_page(self, client: Any, url: str) -> tuple[list[dict[str, Any]], str | None]:
        import httpx

        try:
            async with client.stream("GET", url, headers=hub_headers()) as response:
                if response.status_code >= 400:
                    raise self.fail(url, f"HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > _MAX_LISTING_BYTES:
                        raise self.fail(url, "the listing is larger than 16 MiB")
                following = response.links.get("next", {}).get("url")
        except httpx.HTTPError as exc:
            raise self.fail(url, str(exc) or type(exc).__name__) from None
        try:
            page = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise self.fail(url, "the listing is not JSON") from None
        if not isinstance(page, list) or not all(isinstance(entry, dict) for entry in page):
            raise self.fail(url, "the listing is not a list of files")
        return page, following

    def _checked(self, entry: dict[str, Any]) -> RepoFile:
        """A listed file, refused when its path could lead outside the folder."""
        path = entry.get("path")
        where = self.repo.tree_url(self.endpoint)
        if not isinstance(path, str):
            raise self.fail(where, f"the listing names a file without a path: {entry!r:.80}")
        problem = path_problem(path)
        if problem is None and not is_inside(self.folder, self.folder / path):
            problem = "leads outside the model's folder"
        if problem is not None:
            raise self.fail(where, f"the listed file {path!r} {problem}; nothing was written")
        size = entry.get("size")
        return RepoFile(path, size if isinstance(size, int) and size >= 0 else None)

    async def _fetch(
        self, client: Any, item: RepoFile, target: Path, before: int, total: int | None
    ) -> None:
        url = self.repo.file_url(self.endpoint, item.path)
        target.unlink(missing_ok=True)  # a whole file of another size: stale, fetch it again
        await fetch_file(
            client,
            url,
            target,
            fail=lambda why: self.fail(url, why),
            on_progress=lambda done, _size: self._report(before + done, total),
        )
        size = target.stat().st_size
        if item.size is not None and size != item.size:
            target.unlink()
            raise self.fail(url, f"got {size} bytes where the hub lists {item.size}")

    def _report(self, done: int, total: int | None) -> None:
        if self._progress is not None:
            self._progress(DownloadProgress(self.repo.repo, done, total))

    def _mark_complete(self, files: list[RepoFile]) -> None:
        marker = self.folder / COMPLETE_MARKER
        record = {
            "repository": self.repo.name,
            "revision": self.repo.revision,
            "files": [{"path": f.path, "size": f.size} for f in files],
        }
        temporary = marker.with_name(marker.name + ".tmp")
        private_dir(self.folder)
        temporary.write_text(json.dumps(record, indent=1), encoding="utf-8")
        os.replace(temporary, marker)


def _already_whole(target: Path, size: int | None) -> bool:
    """Whether an earlier try already finished this file (``.part`` files are renamed only
    once complete)."""
    return target.is_file() and (size is None or target.stat().st_size == size)
