// The status page in a real headless Chromium, after a scripted review and one thread reply.
import fs from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMarker } from '../src/gitlab/markers.js';
import { launchBrowser } from './support/browser.js';
import { ALICE, BOT, finding, reviewOutput, sampleMr, startHarness, waitFor, type Harness } from '../standins/harness.js';

const ADMIN = 'admin-token-for-tests-42';
const OUT = path.resolve('test-output');

describe('status page', () => {
  let h: Harness;
  let browser: Browser;
  beforeAll(async () => {
    h = await startHarness({ ADMIN_TOKEN: ADMIN });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  it('is never public: 401 without the token, 404 when no ADMIN_TOKEN is set', async () => {
    expect((await fetch(`${h.url}/`)).status).toBe(401);
    expect((await fetch(`${h.url}/?token=wrong`)).status).toBe(401);
    expect((await fetch(`${h.url}/`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await fetch(`${h.url}/`, { headers: { authorization: `Bearer ${ADMIN}` } })).status).toBe(200);
    const open = await startHarness();
    try {
      expect((await fetch(`${open.url}/`)).status).toBe(404);
    } finally {
      await open.close();
    }
  });

  it('shows the MR with its trunk and the fork of the answered thread', async () => {
    const { project, mr } = await sampleMr(h);
    h.model.script(
      { structured: reviewOutput([finding({ file: 'src/math.js', start_line: 6, anchor_text: '  return a / b;', title: 'Division by zero' })], 'Adds div and first.') },
      { structured: { reply: 'Because `b` can be 0 when the caller passes an empty range.', verdict: 'fix_needed' } },
    );
    await h.send(h.gitlab.mrHook(project, mr.iid, 'open'));
    const findingDisc = await waitFor(
      () => h.gitlab.discussions(project, mr.iid).find((d) => d.notes.some((n) => readMarker(n.body)?.kind === 'finding')),
      60_000,
      'finding thread',
    );
    await h.bot.queue.drained();
    const { note, discussion } = h.gitlab.addNote(project, mr.iid, ALICE.id, 'why?', { discussionId: findingDisc.id });
    await h.send(h.gitlab.noteHook(project, mr.iid, note, discussion));
    await waitFor(() => h.gitlab.discussions(project, mr.iid).find((d) => d.id === findingDisc.id)!.notes.some((n) => n.author.id === BOT.id && readMarker(n.body)?.kind === 'reply'), 60_000, 'reply');
    await h.bot.queue.drained();
    const rec = (await h.bot.deps.store.getMr(project.id, mr.iid))!;
    const thread = (await h.bot.deps.store.getThread(project.id, mr.iid, findingDisc.id))!;

    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    const cspViolations: string[] = [];
    page.on('console', (m) => /Content Security Policy/i.test(m.text()) && cspViolations.push(m.text()));
    // ?token= is traded for an HttpOnly cookie and dropped from the address
    const res = await page.goto(`${h.url}/?token=${ADMIN}`);
    if (res?.status() !== 200) console.error(h.logs.filter((l) => l.includes('request failed')));
    expect(res?.status()).toBe(200);
    expect(new URL(page.url()).search).toBe('');
    const cookie = (await context.cookies()).find((c) => c.name === 'mrr_admin');
    expect(cookie?.httpOnly).toBe(true);
    expect(cookie?.value).not.toContain(ADMIN);

    const card = page.locator(`article[data-mr="${project.id}:${mr.iid}"]`);
    await expect(card.locator('h3').textContent()).resolves.toContain('acme/app!1');
    await expect(card.locator('h3').textContent()).resolves.toContain('Add helpers');
    await expect(card.textContent()).resolves.toContain(mr.headSha.slice(0, 12));

    const trunks = card.locator('[data-role="trunk"]');
    expect(await trunks.count()).toBe(1);
    expect(await trunks.getAttribute('data-session')).toBe(rec.trunkSessionId);
    const forks = trunks.locator('[data-role="fork"]');
    expect(await forks.count()).toBe(1);
    expect(await forks.getAttribute('data-session')).toBe(thread.forkSessionId);
    expect(thread.forkSessionId).not.toBe(rec.trunkSessionId);
    const link = await forks.locator('a').getAttribute('href');
    expect(link).toMatch(new RegExp(`/acme/app/-/merge_requests/${mr.iid}#note_\\d+$`));
    await expect(forks.textContent()).resolves.toMatch(/\d+ turns/);

    fs.mkdirSync(OUT, { recursive: true });
    await page.screenshot({ path: path.join(OUT, 'status-page.png'), fullPage: true });
    expect(fs.statSync(path.join(OUT, 'status-page.png')).size).toBeGreaterThan(1000);
    expect(await page.content()).not.toMatch(/<script/i); // readable without JavaScript: there is none
    // under its Content-Security-Policy the page's own (hashed) stylesheet still applies, and nothing was refused
    expect(res?.headers()['content-security-policy']).toMatch(/default-src 'none'/);
    type Win = { getComputedStyle(e: unknown): { borderTopStyle: string } };
    expect(await card.evaluate((el) => (globalThis as unknown as Win).getComputedStyle(el).borderTopStyle)).toBe('solid');
    expect(cspViolations).toEqual([]);

    // the cookie alone is enough on the next visit
    const again = await page.goto(`${h.url}/`);
    expect(again?.status()).toBe(200);
    await context.close();
  });
});
