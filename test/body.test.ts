// The webhook body: read whole up to the limit, refused past it, from Node's request (the server) and from a web
// Request (hono's app.request) alike.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBody } from '../src/server/body.js';

const LIMIT = 1024;
const app = new Hono();
app.post('/', async (c) => {
  const body = await readBody(c, LIMIT);
  return body === undefined ? c.text('too large', 413) : c.text(`${body.length}:${body.slice(0, 20)}`);
});

let server: ReturnType<typeof serve>;
let url: string;
beforeAll(async () => {
  server = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** POST over node:http: chunked when `streamed` (no length to check up front). */
function post(body: string, streamed: boolean): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = streamed ? {} : { 'content-length': Buffer.byteLength(body) };
    const req = http.request(url, { method: 'POST', headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    for (let i = 0; i < body.length; i += 300) req.write(body.slice(i, i + 300));
    req.end();
  });
}

describe('readBody', () => {
  it.each([false, true])('reads a body up to the limit whole, multi-byte characters included (streamed: %s)', async (streamed) => {
    const body = `${'é'.repeat(100)}${'x'.repeat(LIMIT - 200)}`; // exactly LIMIT bytes
    expect(await post(body, streamed)).toEqual({ status: 200, text: `${body.length}:${body.slice(0, 20)}` });
  });

  it.each([false, true])('refuses a body one byte over the limit (streamed: %s)', async (streamed) => {
    expect((await post('x'.repeat(LIMIT + 1), streamed)).status).toBe(413);
  });

  it('reads an empty body', async () => {
    expect(await post('', false)).toEqual({ status: 200, text: '0:' });
  });

  it('reads a web Request the same way (hono app.request)', async () => {
    expect(await (await app.request('/', { method: 'POST', body: 'hello' })).text()).toBe('5:hello');
    expect((await app.request('/', { method: 'POST', body: 'x'.repeat(LIMIT + 1) })).status).toBe(413);
  });
});
