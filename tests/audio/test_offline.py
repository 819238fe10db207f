"""Offline mode: the voice uses a TTS server on this machine (loopback) and nothing else.

Checked in a fresh process with an audit hook on every socket connection. The hook refuses
connections beyond loopback, so even the check that it sees them sends nothing off the machine.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from audio.offline import is_loopback_url
from tests.audio.conftest import tone_file
from tests.support.cli import run_python
from tests.support.fish_speech_server import FishSpeechServer
from tests.support.pulse import PulseServer

pytestmark = pytest.mark.timeout(120)

AWAY = "http://192.0.2.1:8080"  # TEST-NET-1: nobody is there, and nothing is sent there
OFFLINE_REASON = f"offline mode: [tts] url {AWAY} is not on this machine"

SCRIPT = textwrap.dedent(
    """
    import ipaddress, socket, sys

    beyond = []  # connections (and name lookups) beyond loopback
    local = []  # connections to loopback


    def audit(event, args):
        if event in ("socket.connect", "socket.connect_ex", "socket.sendto", "socket.sendmsg"):
            sock, address = args[0], args[-1]
            if sock.family not in (socket.AF_INET, socket.AF_INET6):
                return
            if ipaddress.ip_address(address[0]).is_loopback:
                local.append(address[0])
                return
            beyond.append(f"{event} {address[0]}:{address[1]}")
            raise PermissionError("this test lets nothing leave the machine")
        if event == "socket.getaddrinfo":
            host = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
            try:
                if ipaddress.ip_address(host).is_loopback:
                    return
            except ValueError:
                if host == "localhost":
                    return
            beyond.append(f"{event} {host}")


    sys.addaudithook(audit)

    import asyncio, json
    from pathlib import Path

    from audio import VoiceError, VoiceService
    from config import Mode, Settings

    url, data_dir, sample = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])


    async def attempt(work):
        try:
            await work
        except VoiceError as exc:
            return exc.reason
        return None


    async def main():
        voice = VoiceService.from_settings(
            Settings(data_dir=data_dir, mode="offline", tts={"url": url})
        )
        report = {}
        status = await voice.start()
        report["status"] = [status.state, status.reason]
        said = await voice.say("Hello there.")
        report["say"] = [said.error, said.spoken]
        kept = await voice.say("Keep it.", keep_audio=True)
        report["keep"] = [kept.error, kept.audio_wav is not None]
        report["synthesize"] = await attempt(voice.synthesize_speech("Just the file."))
        report["check"] = await attempt(voice.check_server())
        cloned = await voice.clone_voice_from_audio(sample.read_bytes(), "spoken words", "Ava")
        report["clone"] = [cloned.stored_on, cloned.note]
        listing = await voice.list_voices()
        report["list"] = [[v.name for v in listing.voices], listing.server, listing.detail]
        report["use"] = (await voice.use_voice("Ava")).name
        report["offline"] = list(beyond)

        # The same process in auto mode does reach for the server: the audit is not blind.
        voice.set_mode(Mode.AUTO)
        report["auto_status"] = [voice.status.state, voice.status.reason]
        report["auto_synthesize"] = await attempt(voice.synthesize_speech("Now it may."))
        report["auto"] = list(beyond)

        # And offline again, switched at run time.
        del beyond[:]
        voice.set_mode(Mode.OFFLINE)
        again = await voice.say("Quiet again.")
        report["again"] = [voice.status.reason, again.error, list(beyond)]
        report["local_connections"] = len(local)
        await voice.aclose()
        print(json.dumps(report), flush=True)


    asyncio.run(main())
    """
)


def _run(pulse: PulseServer, url: str, tmp_path: Path) -> dict:
    sample = tmp_path / "sample.wav"
    sample.write_bytes(tone_file(4.0))
    done = run_python("-c", SCRIPT, url, str(tmp_path / "data"), str(sample), env=pulse.env())
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_offline_mode_never_reaches_a_tts_server_on_another_machine(
    pulse: PulseServer, tmp_path: Path
) -> None:
    report = _run(pulse, AWAY, tmp_path)
    assert report["offline"] == [], "offline mode reached beyond this machine"
    state, reason = report["status"]
    assert state == "off" and reason.startswith(OFFLINE_REASON)
    assert report["say"] == [f"voice off: {reason}", 0]
    assert report["keep"] == [f"voice off: {reason}", False]
    assert report["synthesize"] == reason
    assert report["check"] == reason
    stored_on, note = report["clone"]
    assert stored_on == "local" and OFFLINE_REASON in note  # kept; nothing is lost
    assert report["list"] == [["Ava"], "unreachable", reason]
    assert report["use"] == "Ava"

    assert report["auto_status"] == ["ready", None]
    assert "cannot reach the TTS server" in report["auto_synthesize"]
    assert "socket.connect 192.0.2.1:8080" in report["auto"]

    assert report["again"] == [reason, f"voice off: {reason}", []]


def test_offline_mode_keeps_a_tts_server_on_this_machine(
    pulse: PulseServer, fish_server: FishSpeechServer, tmp_path: Path
) -> None:
    report = _run(pulse, fish_server.url, tmp_path)  # http://127.0.0.1:PORT
    assert report["offline"] == [] and report["auto"] == []
    assert report["status"] == ["ready", None]
    assert report["say"] == [None, 1]
    assert report["keep"] == [None, True]
    assert report["synthesize"] is None and report["check"] is None
    assert report["clone"] == ["server", None]
    assert report["list"] == [["Ava"], "ok", None]
    assert report["again"] == [None, None, []]
    assert report["local_connections"] > 0
    assert [call.request.text for call in fish_server.calls][:2] == ["Hello there.", "Keep it."]


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8080", True),
        ("http://127.8.9.10", True),
        ("https://localhost:8443/", True),
        ("http://LOCALHOST:8080", True),
        ("http://[::1]:8080", True),
        ("http://[::ffff:127.0.0.1]:8080", True),
        ("http://192.0.2.1:8080", False),
        ("http://gpu-box:8080", False),
        ("http://localhost.example.com:8080", False),
        ("http://127.0.0.1.nip.io:8080", False),
        ("http://0.0.0.0:8080", False),
        ("http://[::2]:8080", False),
    ],
)
def test_what_counts_as_this_machine(url: str, local: bool) -> None:
    assert is_loopback_url(url) is local
