"""A settings.toml that is a symbolic link (into a dotfiles repository) is written through."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from config import load_settings, save_setting
from tests.support.cli import run_termmate
from tests.support.fish_speech_server import FishSpeechServer


@pytest.fixture
def linked(tmp_path: Path) -> tuple[Path, Path]:
    """(the link termmate reads, the file in the dotfiles folder it points to)."""
    dotfiles = tmp_path / "dotfiles" / "termmate"
    dotfiles.mkdir(parents=True)
    target = dotfiles / "settings.toml"
    target.write_text('# kept in git\nmode = "auto"\n', encoding="utf-8")
    link = tmp_path / "config" / "settings.toml"
    link.parent.mkdir()
    # Relative, as GNU Stow makes them.
    link.symlink_to(Path("..") / "dotfiles" / "termmate" / "settings.toml")
    return link, target


def _assert_written_through(link: Path, target: Path) -> None:
    assert link.is_symlink(), "the link stays a link"
    assert link.resolve() == target
    assert not [p.name for p in link.parent.iterdir() if p != link], "nothing left beside it"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_save_setting_changes_the_target_and_keeps_the_link(linked: tuple[Path, Path]) -> None:
    link, target = linked
    save_setting(link, "mode", "offline")
    save_setting(link, "tts.reference_id", "my voice")

    text = target.read_text(encoding="utf-8")
    assert text.startswith("# kept in git\n") and 'mode = "offline"' in text
    assert 'reference_id = "my voice"' in text
    _assert_written_through(link, target)
    assert load_settings(link).mode == "offline"


def test_a_link_to_a_file_not_there_yet_creates_the_target(tmp_path: Path) -> None:
    target = tmp_path / "dotfiles" / "settings.toml"
    link = tmp_path / "settings.toml"
    link.symlink_to(target)
    save_setting(link, "mode", "online")
    assert target.read_text(encoding="utf-8") == 'mode = "online"\n'
    assert link.is_symlink()


def test_a_loop_of_links_is_a_clear_settings_error(tmp_path: Path) -> None:
    from config import SettingsError

    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(SettingsError, match=f"cannot write settings file {a}"):
        save_setting(a, "mode", "online")


def test_voice_use_writes_through_the_link(
    linked: tuple[Path, Path], termmate_env: dict[str, str]
) -> None:
    link, target = linked
    with FishSpeechServer(references_api=False) as server:
        env = {**termmate_env, "TERMMATE_CONFIG": str(link), "TERMMATE_TTS__URL": server.url}
        done = run_termmate(env, "voice", "use", "studio")
    assert done.returncode == 0, done.stderr
    assert 'reference_id = "studio"' in target.read_text(encoding="utf-8")
    _assert_written_through(link, target)
