// Wiring, in one place: config → store, queue, GitLab, CLI sessions → flows → HTTP server.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { serve, type ServerType } from '@hono/node-server';
import pLimit from 'p-limit';
import { buildEnv, defaultClaudeBin } from './claude/options.js';
import { Sessions } from './claude/sessions.js';
import type { Config } from './config.js';
import type { BotIdentity } from './events/classify.js';
import { jobHandler, type FlowTable } from './flows/handle.js';
import type { Deps } from './flows/deps.js';
import { failureNotifier } from './flows/failure.js';
import { GitLabClient } from './gitlab/client.js';
import { Projects } from './gitlab/projects.js';
import { backoffPolicy, reasonOf } from './jobs/retry.js';
import type { Queue } from './jobs/queue.js';
import { createLogger, type Logger } from './logger.js';
import { makeRedactor } from './redact.js';
import { createApp } from './server/app.js';
import { Metrics } from './server/metrics.js';
import { mountStatusPage } from './server/status-page.js';
import { ProjectRateLimiter } from './server/rate-limit.js';
import { createBackend } from './scale/backend.js';
import { Workspaces } from './workspace/workspaces.js';

export interface Bot {
  deps: Deps;
  queue: Queue;
  port: number;
  /** resolves when the HTTP server is listening and the bot knows itself */
  ready: Promise<void>;
  stop(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  flows?: FlowTable;
  /** install SIGTERM/SIGINT handlers (the `serve` command does) */
  handleSignals?: boolean;
}

export async function startBot(config: Config, opts: StartOptions = {}): Promise<Bot> {
  const redact = makeRedactor(config.secrets);
  const log = opts.logger ?? createLogger({ level: config.LOG_LEVEL, redact });
  if (!config.ANTHROPIC_API_KEY && !config.CLAUDE_CODE_OAUTH_TOKEN && !config.ANTHROPIC_BASE_URL) {
    // Not fatal (a webhook-only replica needs no key, and `doctor` explains), but reviews will fail.
    log.warn('neither ANTHROPIC_API_KEY, CLAUDE_CODE_OAUTH_TOKEN nor ANTHROPIC_BASE_URL is set: reviews will fail');
  }
  fs.mkdirSync(config.dataDir, { recursive: true });
  const claudeDir = path.join(config.dataDir, 'claude');
  const claudeHome = path.join(claudeDir, 'home');
  fs.mkdirSync(claudeHome, { recursive: true });

  // SQLite under DATA_DIR by default; Redis (state, BullMQ, cross-replica locks, portable sessions) with REDIS_URL.
  const backend = createBackend(config, { log, claudeDir });
  const store = backend.store;
  const gitlab = new GitLabClient({
    url: config.GITLAB_URL,
    token: config.GITLAB_TOKEN,
    redact,
    onRetry: (e, ms) => log.warn({ status: e.status, endpoint: e.endpoint, waitMs: Math.round(ms) }, 'GitLab call failed; retrying'),
  });
  const limit = pLimit(config.MAX_CONCURRENT_SESSIONS);
  const metrics = new Metrics();
  const sessions = new Sessions({
    bin: config.CLAUDE_BIN ?? defaultClaudeBin(),
    configDir: claudeDir,
    env: buildEnv({
      configDir: claudeDir,
      homeDir: claudeHome,
      anthropicApiKey: config.ANTHROPIC_API_KEY,
      anthropicBaseUrl: config.ANTHROPIC_BASE_URL,
      oauthToken: config.CLAUDE_CODE_OAUTH_TOKEN,
      maxRetries: config.CLAUDE_MAX_RETRIES,
    }),
    model: config.CLAUDE_MODEL,
    timeoutMs: config.CLAUDE_TIMEOUT_MS,
    locks: backend.locks,
    hooks: backend.sessionHooks,
    slots: { run: (fn) => limit(fn) },
    observe: metrics.observeCli,
  });
  const projects = new Projects({ gitlab, allowed: config.ALLOWED_PROJECTS });
  const workspaces = new Workspaces({ root: config.dataDir, token: config.GITLAB_TOKEN, gitlabUrl: config.GITLAB_URL, remote: (id) => projects.cloneUrl(id), fetchTimeoutMs: config.GIT_FETCH_TIMEOUT_MS });
  let bot: BotIdentity | undefined;
  const deps: Deps = {
    config,
    gitlab,
    store,
    sessions,
    workspaces,
    projects,
    log,
    get bot() {
      if (!bot) throw new Error('bot identity not known yet');
      return bot;
    },
  };

  const notifyFailure = failureNotifier(deps);
  const queue = backend.queue({
    concurrency: config.MAX_CONCURRENT_SESSIONS,
    policy: backoffPolicy({ baseMs: config.RETRY_BASE_MS, maxAttempts: config.JOB_ATTEMPTS }),
    events: {
      onRetry: (job, err, delayMs) => {
        metrics.jobRetry(job, err);
        log.warn({ job: job.id, kind: job.kind, attempt: job.attempt, delayMs, reason: reasonOf(err) }, 'job failed; will retry');
      },
      onDead: (job, err) => {
        metrics.jobFailed(job, err);
        return notifyFailure(job, err);
      },
      onDone: metrics.jobDone,
    },
  });

  metrics.trackQueue(queue);
  let shuttingDown = false;
  const rateLimiter = new ProjectRateLimiter({ perMinute: config.PROJECT_RATE_LIMIT_PER_MIN });
  const app = createApp({
    secret: config.GITLAB_WEBHOOK_SECRET,
    signingKey: config.GITLAB_WEBHOOK_SIGNING_KEY,
    maxBodyBytes: config.MAX_BODY_BYTES,
    queue,
    log,
    bot: () => bot,
    allowedProjects: config.ALLOWED_PROJECTS,
    admit: (key) => rateLimiter.admit(key),
    isShuttingDown: () => shuttingDown,
    webhooks: config.MR_REVIEWER_ROLE !== 'worker',
    onWebhook: metrics.webhook,
    extend: (a) => {
      a.get('/metrics', async (c) => {
        const m = await metrics.render();
        return c.body(m.body, 200, { 'Content-Type': m.contentType });
      });
      mountStatusPage(a, { adminToken: config.ADMIN_TOKEN, store, queueStats: () => queue.stats() });
    },
  });

  let server: ServerType | undefined;
  const listening = new Promise<number>((resolve) => {
    server = serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST }, (info) => resolve(info.port));
  });
  const port = await listening;
  log.info({ port }, 'listening');

  // Who am I: notes by this user id are never answered. Retried until GitLab answers.
  const ready = (async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        bot = await gitlab.currentUser();
        log.info({ bot: bot.username, id: bot.id }, 'bot identity known');
        break;
      } catch (e) {
        log.error({ attempt, reason: reasonOf(e) }, 'GET /user failed; retrying');
        if (shuttingDown) throw e;
        await sleep(Math.min(30_000, 500 * 2 ** attempt));
      }
    }
    deps.enqueue = (spec) => queue.enqueue(spec);
    // MR_REVIEWER_ROLE=web only takes webhooks; worker and all run jobs.
    if (config.MR_REVIEWER_ROLE !== 'web') queue.start(jobHandler(deps, opts.flows));
  })();

  const stop = async () => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info({ deadlineMs: config.SHUTDOWN_DEADLINE_MS }, 'shutting down');
    await queue.stop(config.SHUTDOWN_DEADLINE_MS);
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    await queue.close();
    await store.close();
    await backend.close();
    log.info('stopped');
  };
  if (opts.handleSignals) {
    // `on`, not `once`: execa's signal-exit re-raises a signal when it sees no other listener, which killed the
    // process mid-drain. A second signal exits at once; running jobs are then recovered at the next start.
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      process.on(sig, () => {
        if (shuttingDown) process.exit(1);
        void stop().then(() => process.exit(0));
      });
    }
  }
  return { deps, queue, port, ready, stop };
}
