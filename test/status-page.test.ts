// The status page over plain HTTP (the browser test is status-page.e2e): its Content-Security-Policy, links only for
// http(s) URLs, and pages instead of every record. Records are seeded through the bot's own store.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hono } from 'hono';
import { mountStatusPage, safeHref } from '../src/server/status-page.js';
import { LearningsRepo } from '../src/store/learnings.js';
import { startHarness, type Harness } from '../standins/harness.js';

const ADMIN = 'admin-token-for-tests-42';

describe('status page', () => {
  let h: Harness;
  const get = (query = '') => fetch(`${h.url}/${query}`, { headers: { authorization: `Bearer ${ADMIN}` } });

  beforeAll(async () => {
    h = await startHarness({ ADMIN_TOKEN: ADMIN }, { flows: { review: async () => undefined, update: async () => undefined, reply: async () => undefined } });
    const store = h.bot.deps.store;
    await store.updateMr(500, 1, 'evil/app', (r) => {
      r.webUrl = 'javascript:alert(document.cookie)';
      r.title = '<script>alert(1)</script>';
    });
    const now = new Date().toISOString();
    await store.putThread({
      projectId: 500, iid: 1, discussionId: 'd1', forkSessionId: 'f1', trunkSessionId: 't1', lastSeenNoteId: 0, status: 'done', turns: 1,
      costUsd: 0.01, rebuilds: 0, answered: [], url: 'data:text/html,<script>alert(1)</script>', createdAt: now, updatedAt: now,
    });
    const learnings = new LearningsRepo(store);
    await learnings.add(500, { instruction: '<script>alert(1)</script> never flag callbacks', path: 'src/legacy/**', author: { id: 3, username: 'dana' }, url: 'javascript:alert(1)', source: 'note:1' });
    await learnings.add(600, { instruction: 'Prefer early returns.', author: { id: 3, username: 'dana' }, url: 'https://gitlab.example.com/acme/many/-/merge_requests/2#note_9', mr: 2, source: 'note:9' });
    for (let i = 1; i <= 34; i++) await store.updateMr(600, i, 'acme/many', (r) => (r.webUrl = `https://gitlab.example.com/acme/many/-/merge_requests/${i}`));
  });
  afterAll(async () => h?.close());

  it('sends a CSP with no script and no external load, whose style hash matches the page\'s one stylesheet', async () => {
    const r = await get();
    expect(r.status).toBe(200);
    const csp = r.headers.get('content-security-policy')!;
    const directives = Object.fromEntries(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v.join(' ')]));
    expect(directives).toMatchObject({ 'default-src': "'none'", 'base-uri': "'none'", 'form-action': "'none'", 'frame-ancestors': "'none'" });
    expect(csp).not.toMatch(/script-src|unsafe-inline|https?:|\*/);
    const html = await r.text();
    const styles = [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => m[1]!);
    expect(styles).toHaveLength(1);
    expect(directives['style-src']).toBe(`'sha256-${createHash('sha256').update(styles[0]!).digest('base64')}'`);
    expect(html).not.toMatch(/<script/i);
  });

  it('renders only http(s) URLs as links: a javascript: or data: URL from a payload stays text', async () => {
    const html = (await (await get('?page=1')).text()) + (await (await get('?page=2')).text());
    expect(html).not.toMatch(/href="(javascript|data):/i);
    expect(html).toContain('evil/app!1'); // still listed, as text
    expect(html).toContain('thread d1'); // its thread too
    expect(html).toMatch(/href="https:\/\/gitlab\.example\.com\/acme\/many\/-\/merge_requests\/\d+"/);
    expect([safeHref('javascript:alert(1)'), safeHref('JAVASCRIPT:x'), safeHref('data:x'), safeHref('//evil'), safeHref('ftp://x/'), safeHref('')]).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
    expect(safeHref('https://gitlab.example.com/a#note_1')).toBe('https://gitlab.example.com/a#note_1');
  });

  it('shows one page of MRs at a time, with links to the others', async () => {
    const ids = (html: string) => [...html.matchAll(/data-mr="([^"]+)"/g)].map((m) => m[1]!);
    const p1 = await (await get()).text();
    const p2 = await (await get('?page=2')).text();
    expect(ids(p1)).toHaveLength(30);
    expect(ids(p2)).toHaveLength(5);
    expect(new Set([...ids(p1), ...ids(p2)]).size).toBe(35);
    expect(p1).toContain('href="?page=2"');
    expect(p1).not.toContain('rel="prev"');
    expect(p2).toContain('href="?page=1"');
    expect(p2).not.toContain('rel="next"');
    expect(ids(await (await get('?page=nonsense')).text())).toEqual(ids(p1));
    expect(await (await get('?page=9')).text()).toContain('No more merge requests.');
  });

  it('lists team learnings per project, escaped, linked only to http(s)', async () => {
    const html = await (await get()).text();
    const tables = [...html.matchAll(/<table class="learnings" data-project="(\d+)">([\s\S]*?)<\/table>/g)];
    expect(tables.map((t) => t[1])).toEqual(['500', '600']);
    expect(tables[0]![2]).toContain('&lt;script&gt;alert(1)&lt;/script&gt; never flag callbacks');
    expect(tables[0]![2]).toContain('files matching src/legacy/**');
    expect(tables[0]![2]).not.toContain('href=');
    expect(tables[1]![2]).toContain('href="https://gitlab.example.com/acme/many/-/merge_requests/2#note_9"');
    expect(tables[1]![2]).toMatch(/data-learning="[0-9a-f]{8}"/);
  });

  it('answers 503 within its deadline when the store does not answer (Redis down), instead of hanging', async () => {
    const app = new Hono();
    const never = () => new Promise<never>(() => undefined);
    mountStatusPage(app, { adminToken: ADMIN, store: { listMrs: never, listThreads: never, listFailures: never }, loadTimeoutMs: 200 });
    const r = await app.request('/', { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(r.status).toBe(503);
    expect(await r.text()).toContain('The store is not answering');
    expect(r.headers.get('content-security-policy')).toContain("default-src 'none'");
  });
});
