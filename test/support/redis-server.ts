// A private redis-server for fault tests: a child process on a free port, so a test can kill it (an outage) and start
// it again on the same port without touching the shared Redis other tests use.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { Redis } from 'ioredis';

export interface RedisServer {
  url: string;
  port: number;
  /** SIGKILL: the outage starts now */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: a hung Redis (connections stay open, commands get no answer) */
  pause(): void;
  resume(): void;
  /** a new server on the same port (empty unless `dir` with appendonly was given) */
  restart(): Promise<void>;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export async function startRedisServer(o: { args?: string[] } = {}): Promise<RedisServer> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const up = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...(o.args ?? [])], { stdio: 'ignore' });
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    const end = Date.now() + 10_000;
    for (;;) {
      try {
        await probe.connect();
        await probe.ping();
        probe.disconnect();
        return;
      } catch {
        if (Date.now() > end) throw new Error(`redis-server did not start on ${port}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  const down = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGKILL');
    await gone;
  };
  await up();
  return { url, port, kill: down, restart: up, close: down, pause: () => child?.kill('SIGSTOP'), resume: () => child?.kill('SIGCONT') };
}
