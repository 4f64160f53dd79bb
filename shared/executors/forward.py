"""Inside a coding CLI's sandbox: the gateway on loopback, then the CLI.

    python3 forward.py PORT SOCKET -- ARGV...

The sandbox has no network but its own loopback. This listens on ``127.0.0.1:PORT`` and
pipes each connection to the unix socket ``SOCKET`` (the runner's gateway, mounted
read-only into the sandbox), then runs ``ARGV`` with its stdio inherited and exits with
its status (``128 + n`` when a signal ``n`` ended it). Standard library only: it runs on
whatever Python the sandbox has (the host's under bubblewrap, the image's under Docker).
"""

import asyncio
import signal
import sys

CHUNK = 65536


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, half_close: bool) -> None:
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if half_close and writer.can_write_eof():
            writer.write_eof()  # the request is whole; its answer may still come
            return
    except (ConnectionError, OSError):
        pass
    writer.close()


async def _serve(socket_path: str, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
    try:
        upstream_r, upstream_w = await asyncio.open_unix_connection(socket_path)
    except OSError as exc:
        print(f"forward: the gateway socket {socket_path} does not answer: {exc}", file=sys.stderr)
        client_w.close()
        return
    await asyncio.gather(
        _pipe(client_r, upstream_w, half_close=True),
        _pipe(upstream_r, client_w, half_close=False),
    )
    upstream_w.close()
    client_w.close()


async def main(argv: list[str]) -> int:
    """Forward, run the command, and give its exit status."""
    if len(argv) < 4 or argv[2] != "--":
        print("usage: forward.py PORT SOCKET -- ARGV...", file=sys.stderr)
        return 2
    port, socket_path, command = int(argv[0]), argv[1], argv[3:]
    server = await asyncio.start_server(
        lambda r, w: _serve(socket_path, r, w), host="127.0.0.1", port=port, reuse_address=True
    )
    async with server:
        child = await asyncio.create_subprocess_exec(*command)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, child.send_signal, sig)
        code = await child.wait()
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
