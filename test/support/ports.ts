// Loopback ports for tests that need "nobody listens here" (then, perhaps, somebody does).
import net from 'node:net';

/** A loopback port nobody listens on (just released by the OS). */
export async function closedPort(): Promise<number> {
  const srv = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => srv.once('listening', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

/** Listens on port and pipes every connection to target: a service that comes up where there was none. */
export async function forward(port: number, target: number): Promise<{ close(): Promise<void> }> {
  const socks = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    const up = net.connect(target, '127.0.0.1');
    socks.add(s).add(up);
    s.pipe(up).pipe(s);
    const end = () => (s.destroy(), up.destroy());
    s.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
  });
  srv.listen(port, '127.0.0.1');
  await new Promise((r) => srv.once('listening', r));
  return {
    close: () =>
      new Promise((r) => {
        for (const s of socks) s.destroy();
        srv.close(() => r());
      }),
  };
}
