// HTTP surface: POST /webhooks/gitlab and GET /healthz (liveness only; readiness is /readyz in readiness.ts).
// No GitLab or CLI calls here: verify, parse, enqueue, answer.
//
// GitLab never redelivers a webhook (WebHookService logs a failure and moves on) and disables a hook after 4
// non-2xx answers in a row. So every authenticated delivery gets an empty 2xx: what the bot does not want is
// logged, counted and dropped; what it wants is persisted first. 401 is only for a wrong or missing credential,
// 400 only for a body that is not JSON at all (GitLab never sends one), 413 only above GitLab's own 25 MB.
import { Hono, type Context } from 'hono';
import { classify, KNOWN_EVENTS, PayloadError } from '../events/classify.js';
import type { BotIdentity } from '../gitlab/identity.js';
import type { BotEvent } from '../events/types.js';
import { jobFor } from '../jobs/specs.js';
import type { Queue } from '../jobs/queue.js';
import type { Logger } from '../logger.js';
import { readBody } from './body.js';
import { deliveryKey } from './delivery-key.js';
import type { ProjectRateLimiter } from './rate-limit.js';
import type { WebhookOutcome } from './metrics.js';
import { checkCredentials, verifyBody } from './webhook-auth.js';

export interface AppDeps {
  /** X-Gitlab-Token; undefined when only a signing key is configured */
  secret?: string;
  /** GitLab's signing token (Standard Webhooks HMAC) */
  signingKey?: string;
  maxBodyBytes: number;
  queue: Queue;
  log: Logger;
  /** undefined until GET /user answered at start-up */
  bot: () => BotIdentity | undefined;
  allowedProjects?: string[];
  /** per-project rate limit, keyed by project id: ms a job waits before it runs (0 = now) */
  rateLimit?: Pick<ProjectRateLimiter, 'delayFor' | 'refund'>;
  /** set on SIGTERM: /healthz says 503 (a probe); webhooks are still taken and persisted */
  isShuttingDown?: () => boolean;
  /** false on MR_REVIEWER_ROLE=worker: the webhook route answers 404 (a worker runs jobs, it does not take them) */
  webhooks?: boolean;
  onWebhook?: (event: string, outcome: WebhookOutcome) => void;
}

/**
 * GitLab stores the answer of every delivery: the body stays empty; the outcome (a word from a fixed set) goes in a
 * header, which GitLab's "Recent events" shows.
 */
export const OUTCOME_HEADER = 'x-mr-reviewer-outcome';
const empty = (status: 200 | 400 | 401 | 413 | 503, outcome: WebhookOutcome) => new Response(null, { status, headers: { [OUTCOME_HEADER]: outcome } });

export function createApp(d: AppDeps): Hono {
  const app = new Hono();
  const credentials = (c: Context) => checkCredentials({ secret: d.secret, signingKey: d.signingKey }, headerOf(c));
  let requestSeq = 0;

  app.get('/healthz', (c) => {
    if (d.isShuttingDown?.()) return c.text('shutting down', 503);
    return c.text('ok');
  });

  if (d.webhooks === false) app.all('/webhooks/*', (c) => c.text('not found: this replica is a worker (MR_REVIEWER_ROLE=worker)', 404));

  app.post(
    '/webhooks/gitlab',
    async (c) => {
      // Credentials are checked from the headers before the body is read: a stranger cannot make us buffer 25 MB.
      const early = credentials(c);
      if (!early.ok) {
        d.onWebhook?.(c.req.header('x-gitlab-event') ?? '', 'unauthorized');
        d.log.warn({ event: eventLabelForLog(c), reason: early.reason, ip: c.req.header('x-forwarded-for') }, 'webhook rejected: unauthenticated');
        return empty(401, 'unauthorized');
      }
      const raw = await readBody(c, d.maxBodyBytes);
      if (raw === undefined) {
        d.onWebhook?.(c.req.header('x-gitlab-event') ?? '', 'too_large');
        d.log.warn({ event: eventLabelForLog(c), limit: d.maxBodyBytes }, 'webhook rejected: body larger than GitLab ever sends');
        return empty(413, 'too_large');
      }
      const event = (c.req.header('x-gitlab-event') ?? '').trim();
      const rid = `${Date.now().toString(36)}-${(++requestSeq).toString(36)}`;
      const log = d.log.child({ rid, event: eventLabelForLog(c) });
      const answer = (o: WebhookOutcome, status: 200 | 400 | 401 | 503 = 200) => {
        d.onWebhook?.(event, o);
        return empty(status, o);
      };
      // The headers' verdict stands (verifySignature checks the timestamp again, against the clock after the read).
      const signed = verifyBody(early, d.signingKey, raw);
      if (!signed.ok) {
        log.warn({ reason: signed.reason }, 'webhook rejected: signature');
        return answer('unauthorized', 401);
      }
      let payload: unknown;
      try {
        payload = JSON.parse(raw);
      } catch (e) {
        // Only a SyntaxError means "not JSON"; anything else (e.g. too deep for the parser) is JSON we will not read.
        if (!(e instanceof SyntaxError)) return ignore(log, answer, 'bad_payload', `unreadable JSON (${(e as Error).name})`);
        log.warn('webhook rejected: body is not JSON');
        return answer('bad_json', 400);
      }
      if (!KNOWN_EVENTS.includes(event)) return ignore(log, answer, 'unknown_event', 'unknown X-Gitlab-Event');
      // GitLab unreachable at start-up: take the delivery anyway (GitLab would not send it again); the jobs wait for
      // the identity, and the reply flow tells the bot's own notes apart with it.
      const bot = d.bot();
      if (!bot) log.warn('the bot does not know its GitLab identity yet (GET /user failing): delivery taken, checked when its job runs');
      let classified;
      try {
        classified = classify(event, payload, bot);
      } catch (e) {
        // A payload that is not what GitLab sends (or GitLab's "Test" button on an old version): acknowledge, drop.
        const reason = e instanceof PayloadError ? e.message : `unreadable payload (${(e as Error).name})`;
        return ignore(log, answer, 'bad_payload', reason);
      }
      if ('ignore' in classified) return ignore(log, answer, 'ignored', classified.ignore);
      return answer(await take(classified.event, deliveryKey(headerOf(c), payload), log));
    },
  );

  /** A wanted event: dropped if its project is not allowed, else persisted (later when over the project's rate). */
  async function take(ev: BotEvent, delivery: string | undefined, log: Logger): Promise<WebhookOutcome> {
    if (d.allowedProjects?.length && !d.allowedProjects.includes(ev.project.path) && !d.allowedProjects.includes(String(ev.project.id))) {
      log.warn({ project: ev.project.path, projectId: ev.project.id }, 'webhook ignored: project not in ALLOWED_PROJECTS');
      return 'not_allowed';
    }
    const delayMs = d.rateLimit?.delayFor(ev.project.id) ?? 0;
    const spec = jobFor(ev, delivery);
    const r = await d.queue.enqueue(delayMs > 0 ? { ...spec, notBefore: Date.now() + delayMs } : spec);
    if (r.duplicate) {
      d.rateLimit?.refund(ev.project.id);
      log.info({ key: r.key, job: r.id }, 'duplicate delivery');
      return 'duplicate';
    }
    const fields = { job: r.id, kind: ev.kind, project: ev.project.path, iid: ev.iid };
    if (delayMs > 0) {
      log.warn({ ...fields, delayMs }, 'job queued, delayed by the project rate limit');
      return 'delayed';
    }
    log.info(fields, 'job queued');
    return 'queued';
  }

  app.onError((err, c) => {
    d.log.error({ err: err.message, path: c.req.path }, 'request failed');
    return c.text('internal error', 500);
  });
  app.notFound((c) => c.text('not found', 404));
  return app;
}

function ignore(log: Logger, answer: (o: WebhookOutcome) => Response, outcome: WebhookOutcome, reason: string): Response {
  log.info({ outcome, reason }, 'webhook ignored');
  return answer(outcome);
}

const headerOf = (c: Context) => (name: string) => c.req.header(name);

/** The event header as logged: a known value, or a short, quoted excerpt of an unknown one. */
function eventLabelForLog(c: Context): string {
  const e = (c.req.header('x-gitlab-event') ?? '').trim();
  return KNOWN_EVENTS.includes(e) ? e : `unknown ${JSON.stringify(e.slice(0, 60))}`;
}
