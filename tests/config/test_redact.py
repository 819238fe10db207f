"""redact_url / redact_secrets: what every layer uses before a URL is shown, logged or stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import SettingsError, load_settings, redact_secrets, redact_url, split_userinfo


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://alice:hunter2@127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
        ("https://tok3n@gpu-box/v1", "https://gpu-box/v1"),
        ("http://a%40b:p%40ss@[::1]:8080/v1", "http://[::1]:8080/v1"),
        ("http://host/tts?token=abc&voice=x", "http://host/tts?token=***&voice=x"),
        (
            "https://bucket.test/f?X-Amz-Signature=abc&X-Amz-Credential=q&api_key=k&n=1",
            "https://bucket.test/f?X-Amz-Signature=***&X-Amz-Credential=***&api_key=***&n=1",
        ),
        ("http://host/cb#access_token=abc", "http://host/cb#access_token=***"),
        ("alice:hunter2@gpu-box:8000/v1", "gpu-box:8000/v1"),  # a mistyped URL, no scheme
        ("http://gpu-box:8000/v1", "http://gpu-box:8000/v1"),
        ("http://[::1", "http://[::1"),  # not a URL Python can parse: still no exception
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_split_userinfo_gives_the_decoded_pair_for_basic_auth() -> None:
    url, userinfo = split_userinfo("http://alice:p%40ss%3Aword@gpu-box/v1")
    assert (url, userinfo) == ("http://gpu-box/v1", ("alice", "p@ss:word"))
    assert split_userinfo("http://gpu-box/v1") == ("http://gpu-box/v1", None)
    assert split_userinfo("http://tok@gpu-box/v1") == ("http://gpu-box/v1", ("tok", ""))


def test_redact_secrets_finds_urls_anywhere_in_text() -> None:
    text = (
        "GET 'http://alice:hunter2@h:1/v1/models?key=k3y&n=2' failed; "
        "retrying https://bob:pw@x.test/a@b?x=1 for carol@example.test"
    )
    assert redact_secrets(text) == (
        "GET 'http://h:1/v1/models?key=***&n=2' failed; "
        "retrying https://x.test/a@b?x=1 for carol@example.test"
    )
    assert redact_secrets("nothing to hide: a=b, 50% done") == "nothing to hide: a=b, 50% done"


def test_a_rejected_url_in_the_settings_file_is_shown_without_its_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings_file = tmp_path / "settings.toml"
    settings_file.write_text('[tts]\nurl = "ftp://alice:hunter2@gpu-box/?token=t0k"\n')
    monkeypatch.setenv("TERMMATE_CONFIG", str(settings_file))
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert f"{settings_file}: key 'url' in [tts] = 'ftp://gpu-box/?token=***'" in message
    assert "hunter2" not in message and "t0k" not in message
