#!/usr/bin/env python3
"""A user-space TCP/UNIX relay that delays every byte by a fixed time, in
order, in both directions (the kernel here has no sch_netem).

usage: delay_proxy.py LISTEN CONNECT [--delay MS]
  LISTEN, CONNECT: tcp:HOST:PORT or unix:PATH
Each accepted connection gets its own upstream connection; data read on
one side is written to the other DELAY ms after it was read.  Used by
tests/bench/regions-delay.sh to put 40 ms between regions.
"""
import asyncio
import os
import sys
import time


def parse(spec):
    kind, _, rest = spec.partition(":")
    if kind == "tcp":
        host, _, port = rest.rpartition(":")
        return ("tcp", host, int(port))
    if kind == "unix":
        return ("unix", rest)
    sys.exit("bad address " + spec)


async def pump(reader, writer, delay):
    q = asyncio.Queue()

    async def sender():
        while True:
            due, data = await q.get()
            if data is None:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        try:
            writer.write_eof()
        except (OSError, RuntimeError):
            pass

    task = asyncio.ensure_future(sender())
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            q.put_nowait((time.monotonic() + delay, data))
    except OSError:
        pass
    q.put_nowait((0, None))
    try:
        await task
    except OSError:
        pass
    writer.close()


async def main():
    listen, connect = parse(sys.argv[1]), parse(sys.argv[2])
    delay = 0.0
    if "--delay" in sys.argv:
        delay = float(sys.argv[sys.argv.index("--delay") + 1]) / 1000.0

    async def handle(r1, w1):
        try:
            if connect[0] == "tcp":
                r2, w2 = await asyncio.open_connection(connect[1], connect[2])
                s = w2.get_extra_info("socket")
                import socket
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            else:
                r2, w2 = await asyncio.open_unix_connection(connect[1])
        except OSError:
            w1.close()
            return
        if listen[0] == "tcp":
            import socket
            w1.get_extra_info("socket").setsockopt(
                socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(pump(r1, w2, delay), pump(r2, w1, delay))

    if listen[0] == "tcp":
        srv = await asyncio.start_server(handle, listen[1], listen[2])
    else:
        try:
            os.unlink(listen[1])
        except FileNotFoundError:
            pass
        srv = await asyncio.start_unix_server(handle, listen[1])
    async with srv:
        await srv.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
