// CLI processes started from a worker thread. Starting a child blocks the thread that starts it until the child has
// exec'd: 10–50 ms per CLI on a busy 2-core machine, during which the main thread would answer no webhook and
// advance no other job (ten threads answered at once stalled each other by that much per CLI ahead of them). The
// worker owns the children (stdin, output, timeout, kill); the main thread gets each one's outcome.
import { Worker } from 'node:worker_threads';

export interface SpawnRequest {
  bin: string;
  args: string[];
  /** the child's whole environment (nothing of this process's is added) */
  env: Record<string, string>;
  cwd: string;
  /** written to stdin, which is then closed */
  input: string;
  /** SIGTERM after this long, SIGKILL forceKillAfterMs later if it is still there */
  timeoutMs: number;
  forceKillAfterMs: number;
  /** output past this many characters (stdout and stderr each) kills the child, as a timeout does */
  maxBuffer: number;
}

export interface SpawnOutcome {
  stdout: string;
  stderr: string;
  exitCode?: number;
  signal?: string;
  timedOut: boolean;
}

// CommonJS, evaluated in the worker: plain JavaScript, so it runs the same under tsx, vitest and a build.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { spawn } = require('node:child_process');
const live = new Map();
parentPort.on('message', (m) => {
  if (m.type === 'cancel') return live.get(m.id)?.stop();
  const r = m.req;
  let stdout = '', stderr = '', timedOut = false, settled = false, force;
  const finish = (o) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    clearTimeout(force);
    live.delete(m.id);
    parentPort.postMessage({ type: 'done', id: m.id, outcome: { stdout, stderr, timedOut, ...o } });
  };
  let child;
  try {
    child = spawn(r.bin, r.args, { cwd: r.cwd, env: r.env, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    stderr = String(e && e.message || e);
    return finish({});
  }
  const stop = () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    force ??= setTimeout(() => child.kill('SIGKILL'), r.forceKillAfterMs);
  };
  const timer = setTimeout(() => { timedOut = true; stop(); }, r.timeoutMs);
  live.set(m.id, { stop });
  child.on('error', (e) => { stderr += String(e && e.message || e); finish({}); });
  child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; if (stdout.length > r.maxBuffer) stop(); });
  child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; if (stderr.length > r.maxBuffer) stop(); });
  child.stdin.on('error', () => {}); // a child that exits without reading its stdin
  child.stdin.end(r.input);
  child.on('close', (code, signal) => finish({ exitCode: code ?? undefined, signal: signal ?? undefined }));
});
`;

export class Spawner {
  private worker?: Worker;
  private next = 0;
  private pending = new Map<number, { resolve: (o: SpawnOutcome) => void; reject: (e: Error) => void }>();

  /** Run one child to its end; `signal` stops it (SIGTERM, then SIGKILL) and resolves with what it printed. */
  run(req: SpawnRequest, signal?: AbortSignal): Promise<SpawnOutcome> {
    const worker = this.started();
    const id = ++this.next;
    return new Promise<SpawnOutcome>((resolve, reject) => {
      const cancel = () => worker.postMessage({ type: 'cancel', id });
      const settle = () => {
        signal?.removeEventListener('abort', cancel);
        this.pending.delete(id);
        if (!this.pending.size) worker.unref(); // an idle worker never keeps the process alive
      };
      this.pending.set(id, {
        resolve: (o) => (settle(), resolve(o)),
        reject: (e) => (settle(), reject(e)),
      });
      worker.ref();
      worker.postMessage({ type: 'run', id, req });
      if (signal?.aborted) cancel();
      else signal?.addEventListener('abort', cancel, { once: true });
    });
  }

  /** Stop the worker (its children are not waited for: a shutdown aborts them first). */
  async close(): Promise<void> {
    await this.worker?.terminate();
    this.worker = undefined;
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    // No --import hooks (tsx) in the worker: it runs plain JavaScript and starts faster without them.
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
    worker.on('message', (m: { type: 'done'; id: number; outcome: SpawnOutcome }) => this.pending.get(m.id)?.resolve(m.outcome));
    // A worker that dies takes its calls with it: they fail (the job retries) and the next call starts a new one.
    const lost = (e: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const p of [...this.pending.values()]) p.reject(e);
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`the CLI spawner thread exited (${code})`)));
    worker.unref();
    this.worker = worker;
    return worker;
  }
}

/** The process's one spawner: one thread for every CLI child. */
export const cliSpawner = new Spawner();
