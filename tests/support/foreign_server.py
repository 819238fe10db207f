"""A Unix socket server run by another user: what a local attacker who took termmate's
socket path first would run. It answers nothing and records every byte it is sent.

    python -m tests.support.foreign_server SOCKET UID

Started as root, it drops to UID (and group UID) before it binds SOCKET, prints "ready",
then, each time a peer hangs up, "received HEX" (all that peer sent). It ends at EOF on
standard input. Standard library only, all imported before the privileges are dropped.
"""

from __future__ import annotations

import os
import socket
import sys
import threading

_RECV_TIMEOUT_S = 30.0


def _record(server: socket.socket) -> None:
    while True:
        connection, _ = server.accept()
        received = b""
        with connection:
            connection.settimeout(_RECV_TIMEOUT_S)
            try:
                while chunk := connection.recv(65536):
                    received += chunk
            except OSError:
                pass
        print(f"received {received.hex()}", flush=True)


def main(path: str, uid: int) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen()
    threading.Thread(target=_record, args=(server,), daemon=True).start()
    print("ready", flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
