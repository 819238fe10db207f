"""POST /v1/chat/stream: server-sent events as the reply is written and spoken, a client that
goes away stops the reply (saved, marked stopped), and POST /v1/threads/{id}/stop stops it
from another connection."""

from __future__ import annotations

import base64
import io
import threading
import time

import httpx
import soundfile

from tests.support.fish_speech_server import FishSpeechServer, tone_frequency
from tests.support.scripted_openai import Reply, ScriptedOpenAI, words_of
from tests.support.served import Served, sse_events

SENTENCES = ("The first sentence is here.", "Then a second one.", "And the third ends it.")
SLOW_ANSWER = "Slowly " + "and surely " * 60


def _stream(service: Served, body: dict[str, object]) -> list[tuple[str, object]]:
    with httpx.stream("POST", f"{service.url}/v1/chat/stream", json=body, timeout=60) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(sse_events(response.iter_lines()))


def _messages(service: Served, user: str, thread_id: str) -> list[dict[str, object]]:
    shown = httpx.get(f"{service.url}/v1/threads/{thread_id}", params={"user_id": user})
    assert shown.status_code == 200, shown.text
    return shown.json()["messages"]


def test_tokens_arrive_one_by_one_before_the_end(
    voiced: Served, model: ScriptedOpenAI, user: str
) -> None:
    model.script(Reply.of("One", " two", " three."))
    events = _stream(voiced, {"user_id": user, "message": "count", "speak": False})
    names = [name for name, _ in events]
    assert names == ["start", "routed", "token", "token", "token", "end"]
    start, routed, *tokens, end = (data for _, data in events)
    assert start["thread_id"].startswith("t-")
    assert routed == {
        "backend": "remote",
        "model": model.model,
        "fallback_reason": None,
        "restarted": False,
    }
    assert [t["text"] for t in tokens] == ["One", " two", " three."]
    assert end["text_response"] == "One two three." and end["stopped"] is False
    assert end["memory"] == "off" and end["audio_error"] is None
    assert end["timings"]["first_audio_ms"] is None


def test_each_sentence_is_an_audio_event_in_order_before_the_end(
    voiced: Served, model: ScriptedOpenAI, fish: FishSpeechServer, user: str
) -> None:
    model.script(Reply.of(*words_of(" ".join(SENTENCES))))
    events = _stream(voiced, {"user_id": user, "message": "talk to me"})
    audio = [data for name, data in events if name == "audio"]
    assert [(a["sequence"], a["text"]) for a in audio] == list(enumerate(SENTENCES))
    for event, sentence in zip(audio, SENTENCES, strict=True):
        samples, rate = soundfile.read(io.BytesIO(base64.b64decode(event["audio_b64"])))
        assert _pitch(samples, rate) == tone_frequency(sentence)  # that sentence's audio
    names = [name for name, _ in events]
    assert names[-1] == "end"
    assert names.index("token") < names.index("audio")
    end = events[-1][1]
    assert end["audio_error"] is None
    assert end["timings"]["first_audio_ms"] > 0


def test_chat_answers_the_whole_spoken_reply_as_one_wav(
    voiced: Served, model: ScriptedOpenAI, user: str
) -> None:
    model.script(Reply.of(*words_of(" ".join(SENTENCES))))
    response = httpx.post(
        f"{voiced.url}/v1/chat", json={"user_id": user, "message": "talk"}, timeout=60
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    wav = base64.b64decode(answer["audio_response_b64"])
    samples, rate = soundfile.read(io.BytesIO(wav))
    assert len(samples) / rate > 3 * 0.2  # all three sentences, not one
    assert answer["audio_error"] is None and answer["timings"]["first_audio_ms"] > 0

    quiet = httpx.post(
        f"{voiced.url}/v1/chat",
        json={"user_id": user, "message": "text only", "speak": False},
        timeout=60,
    ).json()
    assert quiet["audio_response_b64"] is None and quiet["audio_error"] is None


def test_a_client_that_goes_away_mid_reply_stops_it_and_the_partial_reply_is_saved(
    voiced: Served, model: ScriptedOpenAI, user: str
) -> None:
    model.script(Reply(words=words_of(SLOW_ANSWER), token_delay_s=0.05))
    seen = ""
    with httpx.stream(
        "POST",
        f"{voiced.url}/v1/chat/stream",
        json={"user_id": user, "message": "tell me slowly", "speak": False},
        timeout=60,
    ) as response:
        for name, data in sse_events(response.iter_lines()):
            if name == "start":
                thread_id = data["thread_id"]
            if name == "token":
                seen += data["text"]
                if seen.count("surely") >= 3:
                    break  # leaving the block closes the connection mid-reply

    reply = _wait_for_saved_reply(voiced, user, thread_id)
    assert reply.get("stopped") is True
    assert reply["content"].startswith(seen) and reply["content"] != SLOW_ANSWER


def test_stop_from_another_connection_ends_the_stream_stopped(
    voiced: Served, model: ScriptedOpenAI, user: str
) -> None:
    model.script(Reply(words=words_of(SLOW_ANSWER), token_delay_s=0.05))
    events: list[tuple[str, object]] = []
    started = threading.Event()

    def listen() -> None:
        with httpx.stream(
            "POST",
            f"{voiced.url}/v1/chat/stream",
            json={"user_id": user, "message": "tell me slowly", "speak": False},
            timeout=60,
        ) as response:
            for event in sse_events(response.iter_lines()):
                events.append(event)
                if event[0] == "token":
                    started.set()

    listener = threading.Thread(target=listen)
    listener.start()
    try:
        assert started.wait(30), events
        thread_id = events[0][1]["thread_id"]  # type: ignore[index]
        other = httpx.post(
            f"{voiced.url}/v1/threads/{thread_id}/stop", params={"user_id": "someone-else"}
        )
        assert other.status_code == 404  # not theirs to stop
        stop = f"{voiced.url}/v1/threads/{thread_id}/stop"
        stopped = httpx.post(stop, params={"user_id": user})
        assert stopped.status_code == 200 and stopped.json() == {"stopped": True}
        # A second press while the reply is being stopped (and saved) changes nothing.
        assert httpx.post(stop, params={"user_id": user}).json() == {"stopped": False}
    finally:
        listener.join(30)
    name, end = events[-1]
    assert name == "end" and end["stopped"] is True  # type: ignore[index]
    assert end["text_response"] != SLOW_ANSWER  # type: ignore[index]
    assert _messages(voiced, user, thread_id)[-1].get("stopped") is True
    again = httpx.post(f"{voiced.url}/v1/threads/{thread_id}/stop", params={"user_id": user})
    assert again.json() == {"stopped": False}  # nothing is being written now


def _wait_for_saved_reply(service: Served, user: str, thread_id: str) -> dict[str, object]:
    """The thread's reply once it is saved (the stopped run saves it as it ends)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        messages = _messages(service, user, thread_id)
        if len(messages) == 2:
            return messages[1]
        time.sleep(0.05)
    raise AssertionError(f"the reply was not saved within 30 s: {messages}")


def _pitch(samples: object, rate: int) -> float:
    """The tone's frequency, to the server's 20 Hz steps."""
    import numpy as np

    mono = np.asarray(samples, dtype=np.float64)
    spectrum = np.abs(np.fft.rfft(mono))
    peak = float(np.fft.rfftfreq(len(mono), 1 / rate)[int(np.argmax(spectrum))])
    return round(peak / 20) * 20
