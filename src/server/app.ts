// HTTP surface: POST /webhooks/gitlab and GET /healthz (liveness only; readiness is /readyz in readiness.ts).
// No GitLab or CLI calls here: verify, parse, enqueue, answer.
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { classify, PayloadError, type BotIdentity } from '../events/classify.js';
import { jobFor } from '../jobs/specs.js';
import type { Queue } from '../jobs/queue.js';
import type { Logger } from '../logger.js';
import { safeEqual, verifySignature } from './verify.js';

export interface AppDeps {
  secret: string;
  signingKey?: string;
  maxBodyBytes: number;
  queue: Queue;
  log: Logger;
  /** undefined until GET /user answered at start-up */
  bot: () => BotIdentity | undefined;
  allowedProjects?: string[];
  /** per-project admission control; false = 429 */
  admit?: (projectKey: string) => boolean;
  /** set on SIGTERM: answer 503 so GitLab redelivers to another replica or later */
  isShuttingDown?: () => boolean;
  /** false on MR_REVIEWER_ROLE=worker: the webhook route answers 404 (a worker runs jobs, it does not take them) */
  webhooks?: boolean;
  /** extra routes (metrics, status page) */
  extend?: (app: Hono) => void;
  onWebhook?: (event: string, outcome: string) => void;
}

export function createApp(d: AppDeps): Hono {
  const app = new Hono();
  let requestSeq = 0;

  app.get('/healthz', (c) => {
    if (d.isShuttingDown?.()) return c.text('shutting down', 503);
    return c.text('ok');
  });

  if (d.webhooks === false) app.all('/webhooks/*', (c) => c.text('not found: this replica is a worker (MR_REVIEWER_ROLE=worker)', 404));

  app.post(
    '/webhooks/gitlab',
    // The secret is checked before the body is read: a stranger cannot make us buffer 5 MB.
    async (c, next) => {
      const event = c.req.header('x-gitlab-event') ?? 'unknown';
      if (d.isShuttingDown?.()) return c.text('shutting down', 503);
      if (!safeEqual(c.req.header('x-gitlab-token') ?? '', d.secret)) {
        d.onWebhook?.(event, 'unauthorized');
        d.log.warn({ event, ip: c.req.header('x-forwarded-for') }, 'webhook rejected: bad or missing X-Gitlab-Token');
        return c.text('invalid token', 401);
      }
      await next();
    },
    bodyLimit({
      maxSize: d.maxBodyBytes,
      onError: (c) => {
        d.onWebhook?.(c.req.header('x-gitlab-event') ?? 'unknown', 'too_large');
        d.log.warn('webhook rejected: body too large');
        return c.text(`body larger than ${d.maxBodyBytes} bytes`, 413);
      },
    }),
    async (c) => {
      const event = c.req.header('x-gitlab-event') ?? '';
      const rid = `${Date.now().toString(36)}-${(++requestSeq).toString(36)}`;
      const log = d.log.child({ rid, event });
      const outcome = (o: string, status: 200 | 400 | 401 | 403 | 429 | 503, text: string) => {
        d.onWebhook?.(event || 'unknown', o);
        return c.text(text, status);
      };
      const raw = await c.req.text();
      if (d.signingKey) {
        const v = verifySignature(d.signingKey, {
          id: c.req.header('webhook-id'),
          timestamp: c.req.header('webhook-timestamp'),
          signature: c.req.header('webhook-signature'),
        }, raw);
        if (!v.ok) {
          log.warn({ reason: v.reason }, 'webhook rejected: signature');
          return outcome('bad_signature', 401, `invalid signature: ${v.reason}`);
        }
      }
      const bot = d.bot();
      if (!bot) return outcome('not_ready', 503, 'starting');
      let payload: unknown;
      try {
        payload = JSON.parse(raw);
      } catch {
        log.warn('webhook rejected: body is not JSON');
        return outcome('bad_json', 400, 'body is not JSON');
      }
      let classified;
      try {
        classified = classify(event, payload, bot);
      } catch (e) {
        if (!(e instanceof PayloadError)) throw e;
        log.warn({ reason: e.message }, 'webhook rejected');
        return outcome('bad_payload', 400, e.message);
      }
      if ('ignore' in classified) {
        log.debug({ reason: classified.ignore }, 'webhook ignored');
        return outcome('ignored', 200, `ignored: ${classified.ignore}`);
      }
      const ev = classified.event;
      if (d.allowedProjects?.length && !d.allowedProjects.includes(ev.project.path) && !d.allowedProjects.includes(String(ev.project.id))) {
        log.warn({ project: ev.project.path }, 'webhook rejected: project not allowed');
        return outcome('forbidden_project', 403, 'project not allowed');
      }
      if (d.admit && !d.admit(ev.project.path)) {
        log.warn({ project: ev.project.path }, 'webhook rejected: project rate limit');
        c.header('Retry-After', '60');
        return outcome('rate_limited', 429, 'rate limited');
      }
      const delivery = c.req.header('idempotency-key') ?? c.req.header('x-gitlab-event-uuid') ?? undefined;
      const r = await d.queue.enqueue(jobFor(ev, delivery));
      if (r.duplicate) {
        log.info({ key: r.key, job: r.id }, 'duplicate delivery');
        return outcome('duplicate', 200, `duplicate of job ${r.id ?? ''}`.trim());
      }
      log.info({ job: r.id, kind: ev.kind, project: ev.project.path, iid: ev.iid }, 'job queued');
      return outcome('queued', 200, `queued ${r.id}`);
    },
  );

  d.extend?.(app);

  app.onError((err, c) => {
    d.log.error({ err: err.message }, 'request failed');
    return c.text('internal error', 500);
  });
  app.notFound((c) => c.text('not found', 404));
  return app;
}
