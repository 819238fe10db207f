"""Offline, memory opens no network connection: not to a configured server, not to mem0's
telemetry or notices, not to a model hub. Checked with an audit hook in a fresh process."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from tests.support.cli import ROOT, run_python

SCRIPT = textwrap.dedent(
    """
    import json, socket, sys
    attempts = []

    def audit(event, args):
        if event in ("socket.connect", "socket.connect_ex", "socket.sendto", "socket.sendmsg"):
            sock = args[0]
            if getattr(sock, "family", None) != socket.AF_UNIX:
                attempts.append([event, repr(args[1])])
        elif event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"):
            attempts.append([event, repr(args[0])])

    sys.addaudithook(audit)

    import asyncio
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    from agent.memory.service import MemoryService
    from config import Settings

    async def main():
        settings = Settings(
            data_dir=Path({data!r}),
            mode="offline",
            user_id="minsu",
            local={{"embed_model": {model!r}}},
            embed={{"url": "http://192.0.2.1:9/v1"}},
            llm={{"url": "http://192.0.2.1:9/v1"}},
        )
        memory = MemoryService(settings)
        await memory.start()
        assert memory.status.state == "ok", memory.status
        added = await memory.add("The user likes coffee", user_id="minsu", category="food")
        found = await memory.search("coffee", user_id="minsu", min_score=0)
        await memory.update(added.record.id, user_id="minsu", text="The user likes tea")
        await memory.cleanup(user_id="minsu", days=1)
        await memory.delete(added.record.id, user_id="minsu")
        await memory.aclose()
        import mem0.memory.telemetry as telemetry
        print(json.dumps({{"attempts": attempts, "hits": len(found.hits),
                           "telemetry": telemetry.MEM0_TELEMETRY}}))

    asyncio.run(main())
    """
)


def test_offline_memory_opens_no_network_connection(tmp_path: Path, tiny_embed_gguf) -> None:
    home = tmp_path / "home"
    home.mkdir()
    script = SCRIPT.format(repo=str(ROOT), data=str(tmp_path / "data"), model=str(tiny_embed_gguf))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "MEM0_TELEMETRY": "true"}
    done = run_python("-c", script, env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"attempts": [], "hits": 1, "telemetry": False}
    assert not (home / ".mem0").exists()  # mem0's own files stay in termmate's data dir
    assert (tmp_path / "data" / "memory" / "mem0").is_dir()
