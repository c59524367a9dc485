// The HTTP layer under gitbeaker: every failure becomes a GitLabError that says what GitLab said (or why nothing
// answered), with the status the retry rules read. A scripted local server plays GitLab.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitLabClient } from '../src/gitlab/client.js';
import { abortAfter, behindProxy, GitLabError, networkCause } from '../src/gitlab/requester.js';

type Reply = { status: number; headers?: Record<string, string>; body?: string; hang?: boolean };
let next: Reply = { status: 200 };
let server: http.Server;
let url: string;

beforeAll(async () => {
  server = http.createServer((_req, res) => {
    if (next.hang) return; // never answers
    res.writeHead(next.status, next.headers ?? { 'content-type': 'application/json' });
    res.end(next.body ?? '');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

async function failure(reply: Reply, o: { timeoutMs?: number; base?: string } = {}): Promise<GitLabError> {
  next = reply;
  const client = new GitLabClient({ url: o.base ?? url, token: 't', attempts: 1, timeoutMs: o.timeoutMs ?? 10_000 });
  const e = await client.currentUser().then(() => undefined, (x: unknown) => x);
  if (!(e instanceof GitLabError)) throw new Error(`expected a GitLabError, got ${String(e)}`);
  return e;
}

describe('createRequester', () => {
  it('parses a JSON answer', async () => {
    next = { status: 200, body: JSON.stringify({ id: 7, username: 'bot' }), headers: { 'content-type': 'application/json; charset=utf-8' } };
    const client = new GitLabClient({ url, token: 't', attempts: 1 });
    expect(await client.currentUser()).toMatchObject({ id: 7, username: 'bot' });
  });

  it("an error answer carries the status, the endpoint and GitLab's message", async () => {
    const e = await failure({ status: 403, body: JSON.stringify({ message: '403 Forbidden' }) });
    expect(e).toMatchObject({ status: 403, method: 'GET', endpoint: 'user' });
    expect(e.message).toBe('GitLab GET /api/v4/user → 403: 403 Forbidden');
    expect(e.transient).toBe(false);
    expect((await failure({ status: 400, body: JSON.stringify({ error: { title: ['is missing'] } }) })).message).toContain('{"title":["is missing"]}');
    expect((await failure({ status: 502, headers: { 'content-type': 'text/html' }, body: '<html>Bad gateway</html>' })).message).toContain('→ 502: <html>Bad gateway</html>');
  });

  it('reads Retry-After in seconds or as a date', async () => {
    expect((await failure({ status: 429, headers: { 'retry-after': '3' } })).retryAfterMs).toBe(3000);
    const at = new Date(Date.now() + 60_000).toUTCString();
    const e = await failure({ status: 503, headers: { 'retry-after': at } });
    expect(e.retryAfterMs).toBeGreaterThan(0);
    expect(e.transient).toBe(true);
    expect((await failure({ status: 503, headers: { 'retry-after': 'soon' } })).retryAfterMs).toBeUndefined();
  });

  it('no answer: status 0 with the cause (a refused connection, a timeout)', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const refused = await failure({ status: 200 }, { base: `http://127.0.0.1:${port}` });
    expect(refused.status).toBe(0);
    expect(refused.message).toMatch(new RegExp(`ECONNREFUSED 127\\.0\\.0\\.1:${port}`));
    expect(refused.transient).toBe(true);
    const timeout = await failure({ status: 200, hang: true }, { timeoutMs: 200 });
    expect(timeout).toMatchObject({ status: 0 });
    expect(timeout.message).toContain('timed out after 200 ms');
  });
});

describe('networkCause', () => {
  it("adds undici's cause to its bare \"fetch failed\"", () => {
    expect(networkCause(new Error('fetch failed', { cause: Object.assign(new Error('getaddrinfo ENOTFOUND gitlab.invalid'), { code: 'ENOTFOUND' }) }))).toBe('fetch failed: getaddrinfo ENOTFOUND gitlab.invalid');
    expect(networkCause(new Error('fetch failed', { cause: Object.assign(new Error(''), { errors: [new Error('a'), new Error('b')] }) }))).toBe('fetch failed: a; b');
    expect(networkCause(new Error('plain'))).toBe('plain');
  });
});

describe('GitLabError.transient', () => {
  it('network failures, 408, 429 and 5xx can heal; other 4xx cannot', () => {
    for (const s of [0, 408, 429, 500, 503]) expect(new GitLabError('x', s, 'GET', 'e').transient).toBe(true);
    for (const s of [400, 401, 403, 404, 409, 422]) expect(new GitLabError('x', s, 'GET', 'e').transient).toBe(false);
  });
});

describe('behindProxy', () => {
  it('reads the proxy variables curl and git read, in either case', () => {
    expect(behindProxy({})).toBe(false);
    expect(behindProxy({ https_proxy: 'http://p:3128' })).toBe(true);
    expect(behindProxy({ HTTP_PROXY: 'http://p:3128' })).toBe(true);
    expect(behindProxy({ NO_PROXY: 'localhost' })).toBe(false);
  });
});

describe('abortAfter', () => {
  it('aborts at the deadline as a TimeoutError, and says so', async () => {
    const d = abortAfter(20);
    await new Promise((r) => d.signal.addEventListener('abort', r));
    expect(d.timedOut()).toBe(true);
    expect((d.signal.reason as Error).name).toBe('TimeoutError');
  });

  it("follows the caller's signal, and once cleared neither fires nor follows", async () => {
    const outer = new AbortController();
    const d = abortAfter(10_000, outer.signal);
    outer.abort(new Error('shutting down'));
    expect(d.signal.aborted).toBe(true);
    expect(d.timedOut()).toBe(false);

    const outer2 = new AbortController();
    const cleared = abortAfter(20, outer2.signal);
    cleared.clear();
    outer2.abort();
    await new Promise((r) => setTimeout(r, 40));
    expect(cleared.signal.aborted).toBe(false);
    expect(abortAfter(10_000, AbortSignal.abort()).signal.aborted).toBe(true); // already aborted
  });
});
