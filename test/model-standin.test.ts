/**
 * Self-test of the Messages-API stand-in: drives the REAL `claude` CLI against it.
 */
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CLAUDE_BIN, claudeEnv, startModelStandin, type ModelStandin } from '../standins/model.js';

interface RunResult {
  rc: number | null;
  stdout: string;
  stderr: string;
  json: any;
}

let standin: ModelStandin;
let tmpRoot: string;
let configDir: string;
let cwd: string;

function runClaude(args: string[], prompt: string, opts: { cwd?: string } = {}): Promise<RunResult> & { pid?: number; exited: () => boolean } {
  const child = spawn(
    CLAUDE_BIN,
    ['-p', '--output-format', 'json', '--setting-sources', 'user', '--tools', 'Read,Grep,Glob', ...args],
    { cwd: opts.cwd ?? cwd, env: claudeEnv(standin, configDir), stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  let done = false;
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  child.stdin.end(prompt);
  const p = new Promise<RunResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (rc) => {
      done = true;
      let json: any;
      try {
        json = stdout.trim() ? JSON.parse(stdout) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ rc, stdout, stderr, json });
    });
  });
  return Object.assign(p, { pid: child.pid, exited: () => done });
}

/** The CLI names a session directory after realpath(cwd) with non-alphanumerics as "-" (short paths only). */
function projectDirName(dir: string): string {
  return fs.realpathSync(dir).replace(/[^a-zA-Z0-9]/g, '-');
}

function sha(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

beforeAll(async () => {
  standin = await startModelStandin();
});
afterAll(async () => {
  await standin?.close();
});
beforeEach(() => {
  standin.reset();
  tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'standin-test-'));
  configDir = path.join(tmpRoot, 'config');
  cwd = path.join(tmpRoot, 'work');
  fs.mkdirSync(configDir);
  fs.mkdirSync(cwd);
});
afterEach(() => {
  fs.rmSync(tmpRoot, { recursive: true, force: true });
});

describe('model stand-in driven by the real claude CLI', () => {
  it('text reply: result, session_id, prompt recorded (prompt via stdin)', async () => {
    standin.usage.input_tokens = 123;
    standin.usage.output_tokens = 45;
    const long = 'Looks good to me. '.repeat(10).trim(); // several text_delta chunks
    standin.script({ text: long });
    const r = await runClaude([], 'PROMPT-FROM-STDIN please review');
    expect(r.rc, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ type: 'result', subtype: 'success', is_error: false, result: long });
    expect(r.json.session_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.json.usage).toMatchObject({ input_tokens: 123, output_tokens: 45 });
    expect(standin.requests).toHaveLength(1);
    const req = standin.requests[0];
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/v1/messages');
    expect(req.body.stream).toBe(true);
    expect(req.lastUserText).toContain('PROMPT-FROM-STDIN please review');
    expect(req.text).toContain('PROMPT-FROM-STDIN please review');
    expect(req.system.length).toBeGreaterThan(100);
    expect([...req.tools].sort()).toEqual(['Glob', 'Grep', 'Read']);
    expect(req.headers['x-claude-code-session-id']).toBe(r.json.session_id);
    // the reply went out under the requested model
    expect(Object.keys(r.json.modelUsage)[0]).toContain(req.body.model);
  });

  it('structured reply with --json-schema gives structured_output, no tool_result round-trip', async () => {
    const schema = {
      type: 'object',
      properties: { verdict: { type: 'string', enum: ['approve', 'request_changes'] }, findings: { type: 'array', items: { type: 'string' } } },
      required: ['verdict', 'findings'],
      additionalProperties: false,
    };
    const obj = { verdict: 'request_changes', findings: ['null deref in foo.ts:12', 'missing test'] };
    standin.script({ structured: obj });
    const r = await runClaude(['--json-schema', JSON.stringify(schema)], 'review this');
    expect(r.rc, r.stderr).toBe(0);
    expect(r.json.is_error).toBe(false);
    expect(r.json.structured_output).toEqual(obj);
    expect(standin.requests).toHaveLength(1);
    expect(standin.requests[0].tools).toContain('StructuredOutput');
  });

  it('Read tool call: the next request carries the tool_result, final text returned', async () => {
    fs.writeFileSync(path.join(cwd, 'hello.txt'), 'FILE-CONTENT-7f3a\nsecond line\n');
    standin.script(
      { toolUse: { name: 'Read', input: { file_path: path.join(cwd, 'hello.txt') }, id: 'toolu_read_1' }, text: 'Reading the file.' },
      { text: 'The file says FILE-CONTENT-7f3a.' },
    );
    const r = await runClaude([], 'what is in hello.txt?');
    expect(r.rc, r.stderr).toBe(0);
    expect(r.json.result).toBe('The file says FILE-CONTENT-7f3a.');
    expect(r.json.num_turns).toBe(2);
    expect(standin.requests).toHaveLength(2);
    const second = standin.requests[1];
    const last = second.messages.at(-1);
    expect(last.role).toBe('user');
    const tr = last.content.find((b: any) => b.type === 'tool_result');
    expect(tr.tool_use_id).toBe('toolu_read_1');
    expect(second.lastUserText).toContain('FILE-CONTENT-7f3a');
    // the assistant turn with the tool_use is replayed
    const asst = second.messages.at(-2);
    expect(asst.role).toBe('assistant');
    expect(asst.content.some((b: any) => b.type === 'tool_use' && b.name === 'Read' && b.id === 'toolu_read_1')).toBe(true);
  });

  it('resume by absolute .jsonl path + fork under a chosen id; trunk untouched; resume the fork', async () => {
    // cwd reached through a symlink, with characters the encoder rewrites
    const real = path.join(tmpRoot, 'real dir.a_b');
    fs.mkdirSync(real);
    const link = path.join(tmpRoot, 'link');
    fs.symlinkSync(real, link);
    const other = path.join(tmpRoot, 'other-cwd');
    fs.mkdirSync(other);

    const S = randomUUID();
    const F = randomUUID();
    standin.script({ text: 'TRUNK-ANSWER' });
    const r1 = await runClaude(['--session-id', S], 'TRUNK-PROMPT', { cwd: link });
    expect(r1.rc, r1.stderr).toBe(0);
    expect(r1.json.session_id).toBe(S);
    const enc = projectDirName(link);
    expect(enc).toMatch(/-real-dir-a-b$/);
    const trunkFile = path.join(configDir, 'projects', enc, `${S}.jsonl`);
    expect(fs.readdirSync(path.join(configDir, 'projects'))).toEqual([enc]);
    expect(fs.existsSync(trunkFile)).toBe(true);
    const before = sha(trunkFile);

    // fork from a different cwd, resuming by absolute path
    standin.script({ text: 'FORK-ANSWER' });
    const r2 = await runClaude(['--resume', trunkFile, '--fork-session', '--session-id', F], 'FORK-PROMPT', { cwd: other });
    expect(r2.rc, r2.stderr).toBe(0);
    expect(r2.json.session_id).toBe(F);
    expect(r2.json.result).toBe('FORK-ANSWER');
    const forkReq = standin.requests[1];
    expect(forkReq.text).toContain('TRUNK-PROMPT');
    expect(forkReq.text).toContain('TRUNK-ANSWER');
    expect(forkReq.lastUserText).toContain('FORK-PROMPT');
    expect(sha(trunkFile)).toBe(before);
    const forkFile = path.join(configDir, 'projects', projectDirName(other), `${F}.jsonl`);
    expect(fs.existsSync(forkFile)).toBe(true);
    expect(fs.existsSync(path.join(configDir, 'projects', enc, `${F}.jsonl`))).toBe(false);

    // resume the fork by id from its cwd
    standin.script({ text: 'AFTER-ANSWER' });
    const r3 = await runClaude(['--resume', F], 'AFTER-PROMPT', { cwd: other });
    expect(r3.rc, r3.stderr).toBe(0);
    expect(r3.json.session_id).toBe(F);
    const req3 = standin.requests[2];
    for (const s of ['TRUNK-PROMPT', 'TRUNK-ANSWER', 'FORK-PROMPT', 'FORK-ANSWER']) expect(req3.text).toContain(s);
    expect(req3.lastUserText).toContain('AFTER-PROMPT');
    expect(sha(trunkFile)).toBe(before);
  });

  it('529 error with CLAUDE_CODE_MAX_RETRIES=0: rc 1, is_error, api_error_status 529, one POST', async () => {
    standin.script({ error: { status: 529, message: 'Overloaded (stand-in)' } });
    const r = await runClaude([], 'hi');
    expect(r.rc).toBe(1);
    expect(r.json).toMatchObject({ type: 'result', is_error: true, api_error_status: 529 });
    expect(standin.requests).toHaveLength(1);
  });

  it('hold(): the request waits until release(); reply is chosen at release time', async () => {
    const release = standin.hold();
    const run = runClaude([], 'held prompt');
    await standin.waitForRequests(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(run.exited()).toBe(false);
    standin.script({ text: 'RELEASED' });
    release();
    const r = await run;
    expect(r.rc, r.stderr).toBe(0);
    expect(r.json.result).toBe('RELEASED');
  });
});

describe('model stand-in over plain HTTP', () => {
  it('non-streaming, errors, HEAD, 404, responder, hang + close', async () => {
    const s = await startModelStandin();
    try {
      const post = (body: unknown) =>
        fetch(`${s.url}/v1/messages?beta=true`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const big = 'x'.repeat(600_000);
      s.script({ toolUse: { name: 'Bash', input: { command: 'ls' } }, text: 'pre' });
      let res = await post({ model: 'm-1', messages: [{ role: 'user', content: big }], system: [{ type: 'text', text: 'SYS' }] });
      expect(res.status).toBe(200);
      const msg: any = await res.json();
      expect(msg).toMatchObject({ type: 'message', role: 'assistant', model: 'm-1', stop_reason: 'tool_use' });
      expect(msg.content[0]).toEqual({ type: 'text', text: 'pre' });
      expect(msg.content[1]).toMatchObject({ type: 'tool_use', name: 'Bash', input: { command: 'ls' } });
      expect(s.requests[0].lastUserText.length).toBe(600_000);
      expect(s.requests[0].system).toBe('SYS');

      s.script({ error: { status: 429, retryAfter: 7 } });
      res = await post({ model: 'm', messages: [] });
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBe('7');
      expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });

      s.respond((r) => (r.lastUserText.includes('ping') ? { text: 'pong' } : undefined));
      s.setDefault({ text: 'default' });
      res = await post({ model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'ping' }] }] });
      expect(((await res.json()) as any).content[0].text).toBe('pong');
      res = await post({ model: 'm', messages: [{ role: 'user', content: 'other' }] });
      expect(((await res.json()) as any).content[0].text).toBe('default');

      // SSE stream shape
      s.script({ structured: { a: 1 } });
      res = await post({ model: 'm', stream: true, messages: [] });
      const events = (await res.text()).split('\n').filter((l) => l.startsWith('event: ')).map((l) => l.slice(7));
      expect(events).toEqual([
        'message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta', 'content_block_stop',
        'message_delta', 'message_stop',
      ]);

      expect((await fetch(s.url, { method: 'HEAD' })).status).toBe(200);
      res = await fetch(`${s.url}/v1/nope`);
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
      expect(s.requests).toHaveLength(5);
      expect(s.log).toContain('HEAD /');

      s.respond(() => ({ hang: true }));
      const hung = post({ model: 'm', messages: [] });
      await s.waitForRequests(6);
      await s.close();
      await expect(hung).rejects.toThrow();
    } finally {
      await s.close();
    }
  });
});
