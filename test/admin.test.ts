// With ADMIN_PORT set, the public port serves only the webhook and /healthz; the status page and /metrics
// answer on the admin port alone. Without it, everything shares PORT (metrics.e2e and status-page.e2e cover that).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../standins/harness.js';

const ADMIN_TOKEN = 'admin-token-0123456789';
let h: Harness;
let admin: string;

beforeAll(async () => {
  h = await startHarness({ ADMIN_PORT: '0', ADMIN_TOKEN });
  admin = `http://127.0.0.1:${h.bot.adminPort}`;
}, 60_000);
afterAll(() => h?.close());

describe('ADMIN_PORT', () => {
  it('listens on its own port', () => {
    expect(h.bot.adminPort).toBeGreaterThan(0);
    expect(h.bot.adminPort).not.toBe(h.bot.port);
  });

  it('the public port takes webhooks and answers /healthz, and has no status page or metrics', async () => {
    // an event the bot does not handle: taken and answered "ignored", so no review starts
    const res = await h.send({ object_kind: 'push', project: { id: 1, path_with_namespace: 'group/app' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-mr-reviewer-outcome')).toBe('ignored');
    expect((await fetch(`${h.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${h.url}/metrics`)).status).toBe(404);
    expect((await fetch(`${h.url}/`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } })).status).toBe(404);
  });

  it('the admin port serves /metrics and the status page, and takes no webhooks', async () => {
    const metrics = await fetch(`${admin}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('mr_reviewer_webhooks_total');
    const page = await fetch(`${admin}/`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html');
    expect((await fetch(`${admin}/`)).status).toBe(401);
    expect((await fetch(`${admin}/webhooks/gitlab`, { method: 'POST', body: '{}' })).status).toBe(404);
  });
});
