"""`termmate look` and `termmate ask --eyes`, as a user runs them."""

from __future__ import annotations

from tests.support.cli import run_termmate
from tests.support.pictures import quadrants
from tests.support.scripted_vlm import ScriptedVLM
from tests.support.xvfb import XvfbDisplay
from tests.vision.conftest import SCRIPTED_DESCRIPTION


def test_look_prints_what_the_vlm_sees_as_json(
    termmate_env: dict[str, str], screen: XvfbDisplay, scripted_vlm: ScriptedVLM
) -> None:
    screen.show(quadrants())
    env = {**termmate_env, "DISPLAY": screen.display, "TERMMATE_MODE": "auto"}
    env["TERMMATE_VLM__URL"] = scripted_vlm.url
    run = run_termmate(env, "look", "--json")
    assert run.returncode == 0, run.stderr
    answer = run.json()
    assert set(answer) == {"description", "width", "height", "model", "timings"}
    assert answer["description"] == SCRIPTED_DESCRIPTION
    assert (answer["width"], answer["height"]) == (1280, 720)
    assert scripted_vlm.images()[-1].open().size == (1280, 720)

    plain = run_termmate(env, "look")
    assert plain.returncode == 0 and plain.stdout.strip() == SCRIPTED_DESCRIPTION


def test_look_with_no_display_says_so_and_ask_eyes_still_answers(
    termmate_env: dict[str, str], scripted_vlm: ScriptedVLM
) -> None:
    env = {k: v for k, v in termmate_env.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env |= {"TERMMATE_MODE": "auto", "TERMMATE_VLM__URL": scripted_vlm.url}
    run = run_termmate(env, "look")
    assert run.returncode == 1
    assert "no display" in run.stderr and "Traceback" not in run.stderr

    asked = run_termmate(env, "ask", "--eyes", "--json", "hello")
    assert asked.returncode == 0, asked.stderr
    assert asked.json()["text_response"]
    assert "eyes: unavailable (no display" in asked.stderr
    assert scripted_vlm.chat_requests == []


def test_look_with_no_vision_model_exits_3_naming_the_settings(
    termmate_env: dict[str, str], screen: XvfbDisplay
) -> None:
    env = {**termmate_env, "DISPLAY": screen.display, "TERMMATE_MODE": "auto"}
    run = run_termmate(env, "look")
    assert run.returncode == 3
    assert "TERMMATE_VLM__URL" in run.stderr and "TERMMATE_LOCAL__VISION_MODEL" in run.stderr
