# asyncio's event loop (epoll), a subprocess pipe, a unix-socket server and
# client, and a loopback TCP server and client.
import asyncio, os, sys
async def main():
    await asyncio.sleep(0.01)
    p = await asyncio.create_subprocess_exec('echo', 'from child', stdout=asyncio.subprocess.PIPE)
    out, _ = await p.communicate()
    print(out.decode().strip(), p.returncode)
    path = os.path.join(sys.argv[1], 'aio.sock')
    try: os.unlink(path)
    except FileNotFoundError: pass
    async def handle(r, w):
        data = await r.readline(); w.write(data.upper()); await w.drain(); w.close()
    srv = await asyncio.start_unix_server(handle, path)
    r, w = await asyncio.open_unix_connection(path)
    w.write(b'hello\n'); await w.drain()
    print((await r.readline()).decode().strip())
    w.close(); srv.close(); await srv.wait_closed()
    srv = await asyncio.start_server(handle, '127.0.0.1', 0)
    port = srv.sockets[0].getsockname()[1]
    r, w = await asyncio.open_connection('127.0.0.1', port)
    w.write(b'tcp\n'); await w.drain(); print((await r.readline()).decode().strip())
    w.close(); srv.close()
asyncio.run(main())
