// CLI children started from the spawner's thread: stdin in, output and exit status back, the environment exactly as
// given, and a timeout or a cancel that stops the child (SIGTERM, then SIGKILL).
import os from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { Spawner, type SpawnRequest } from '../src/claude/spawner.js';

const spawner = new Spawner();
afterAll(() => spawner.close());

const node = (script: string, o: Partial<SpawnRequest> = {}): SpawnRequest => ({
  bin: process.execPath, args: ['-e', script], env: { PATH: process.env.PATH ?? '' }, cwd: os.tmpdir(), input: '',
  timeoutMs: 20_000, forceKillAfterMs: 1_000, maxBuffer: 1024 * 1024, ...o,
});

describe('Spawner', () => {
  it('hands the input to stdin and returns what the child printed and its exit code', async () => {
    const input = `${'é'.repeat(50_000)}\n`; // more than a pipe holds, multi-byte across chunks
    const out = await spawner.run(node("let s='';process.stdin.setEncoding('utf8').on('data',d=>s+=d).on('end',()=>{process.stdout.write(s);console.error('err');process.exit(3)})", { input }));
    expect(out).toEqual({ stdout: input, stderr: 'err\n', exitCode: 3, signal: undefined, timedOut: false });
  });

  it('runs in the given directory with exactly the given environment', async () => {
    process.env.MRR_SPAWNER_SECRET = 'not for children';
    try {
      const out = await spawner.run(node('console.log(JSON.stringify([process.cwd(), process.env.MRR_SPAWNER_SECRET ?? null, process.env.ONLY]))', { env: { ONLY: 'this' } }));
      expect(JSON.parse(out.stdout)).toEqual([os.tmpdir(), null, 'this']);
    } finally {
      delete process.env.MRR_SPAWNER_SECRET;
    }
  });

  it('stops a child past its timeout, with SIGKILL if it ignores SIGTERM', async () => {
    const out = await spawner.run(node("process.on('SIGTERM',()=>{});console.log('up');setInterval(()=>{},1000)", { timeoutMs: 300, forceKillAfterMs: 200 }));
    expect(out).toMatchObject({ stdout: 'up\n', timedOut: true, signal: 'SIGKILL' });
  });

  it('stops a child when the signal aborts, and one whose signal is already aborted', async () => {
    const abort = new AbortController();
    const run = spawner.run(node('setInterval(()=>{},1000)'), abort.signal);
    setTimeout(() => abort.abort(), 200);
    expect(await run).toMatchObject({ timedOut: false, signal: 'SIGTERM' });
    expect(await spawner.run(node('setInterval(()=>{},1000)'), AbortSignal.abort())).toMatchObject({ signal: 'SIGTERM' });
  });

  it('reports a binary that cannot start as a failed run, not a hang', async () => {
    const out = await spawner.run(node('', { bin: '/nonexistent/claude' }));
    expect(out.exitCode).toBeUndefined();
    expect(out.stderr).toMatch(/ENOENT/);
  });

  it('runs several children at once', async () => {
    const outs = await Promise.all([1, 2, 3, 4].map((i) => spawner.run(node(`setTimeout(()=>console.log(${i}),${50 * (5 - i)})`))));
    expect(outs.map((o) => o.stdout)).toEqual(['1\n', '2\n', '3\n', '4\n']);
  });
});
