"""``termmate look``: capture the screen now and print what the vision model sees."""

from __future__ import annotations

import json
import sys
from typing import Any

from config import Settings

from . import _exit
from ._progress import terminal_downloads
from ._signals import run_command


def run_look(settings: Settings, *, as_json: bool) -> int:
    return run_command(lambda: _look(settings, as_json=as_json))


async def _look(settings: Settings, *, as_json: bool) -> int:
    from agent.llm.vision import SightModel, vision_models
    from vision import Eyes, NoVisionModel, ScreenUnavailable, VisionError

    router = vision_models(settings, downloads=terminal_downloads())
    eyes = Eyes(settings.vision, SightModel(router))
    try:
        sight = await eyes.look()
    except ScreenUnavailable as exc:
        print(f"termmate: cannot capture the screen: {exc.reason}", file=sys.stderr)
        return _exit.FAILURE
    except NoVisionModel as exc:
        print(f"termmate: {exc.reason}", file=sys.stderr)
        return _exit.NO_MODEL
    except VisionError as exc:
        print(f"termmate: {exc.reason}", file=sys.stderr)
        return _exit.FAILURE
    finally:
        await eyes.aclose()
        await router.aclose()
    if as_json:
        print(json.dumps(_as_json(sight), ensure_ascii=False))
    else:
        print(sight.description)
    return _exit.OK


def _as_json(sight: Any) -> dict[str, Any]:
    data = sight.to_json()
    return {
        "description": data["description"],
        "width": data["width"],
        "height": data["height"],
        "model": data["model"],
        "timings": data["timings"],
    }
