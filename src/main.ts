// Wiring, in one place: config → store, queue, GitLab, CLI sessions → flows → HTTP server.
import fs from 'node:fs';
import path from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import pLimit from 'p-limit';
import { buildEnv, defaultClaudeBin } from './claude/options.js';
import { Sessions } from './claude/sessions.js';
import { ClaudeSessionService } from './claude/session-service.js';
import type { Config } from './config.js';
import type { BotIdentity } from './events/classify.js';
import { jobHandler, type FlowTable } from './flows/dispatch.js';
import type { Deps } from './flows/deps.js';
import { failureNotifier } from './flows/failure.js';
import { GitLabClient } from './gitlab/client.js';
import { Access } from './gitlab/access.js';
import { waitForIdentity } from './gitlab/identity.js';
import { Projects } from './gitlab/projects.js';
import { backoffPolicy, reasonOf } from './jobs/retry.js';
import type { Queue } from './jobs/queue.js';
import { createLogger, type Logger } from './logger.js';
import { makeRedactor } from './redact.js';
import { createAdminApp } from './server/admin.js';
import { createApp } from './server/app.js';
import { Metrics } from './server/metrics.js';
import { GitLabError } from './gitlab/requester.js';
import { LearningsRepo } from './store/learnings.js';
import { Retention } from './store/retention.js';
import { mountStatusPage } from './server/status-page.js';
import { ProjectRateLimiter } from './server/rate-limit.js';
import { GitLabStatus, mountReadiness } from './server/readiness.js';
import { createBackend } from './backends.js';
import { Workspaces } from './workspace/workspaces.js';

const DAY_MS = 86_400_000;

export interface Bot {
  deps: Deps;
  queue: Queue;
  retention: Retention;
  port: number;
  /** the status page, /metrics and /readyz when ADMIN_PORT is set */
  adminPort?: number;
  /** resolves when the HTTP server is listening and the bot knows itself */
  ready: Promise<void>;
  stop(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  flows?: FlowTable;
  /** install SIGTERM/SIGINT handlers (the `serve` command does) */
  handleSignals?: boolean;
  /** stop waiting for GitLab at start-up after this long (a CLI run); default: wait (a server) */
  gitlabWaitMs?: number;
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
    onRetry: (e, ms) => log.warn({ status: e.status, endpoint: e.endpoint, reason: e.message, waitMs: Math.round(ms) }, 'GitLab call failed; retrying'),
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
    access: new Access(gitlab, { cacheMs: config.ACCESS_CACHE_MS }),
    store,
    sessions: new ClaudeSessionService({ cli: sessions, store, workspaces, log }),
    workspaces,
    projects,
    log,
    get bot() {
      if (!bot) throw new Error('bot identity not known yet');
      return bot;
    },
  };

  const notifyFailure = failureNotifier(deps, (spec) => queue.enqueue(spec));
  const queue: Queue = backend.queue({
    concurrency: config.MAX_CONCURRENT_SESSIONS,
    policy: backoffPolicy({ baseMs: config.RETRY_BASE_MS, maxDelayMs: config.RETRY_MAX_DELAY_MS, horizonMs: config.RETRY_HORIZON_MS, maxAttempts: config.JOB_ATTEMPTS }),
    dedupeTtlMs: config.RETENTION_DELIVERY_DAYS * DAY_MS,
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
  const gitlabStatus = new GitLabStatus(config.GITLAB_URL);
  metrics.trackGitLab(() => gitlabStatus.isUp);
  const retention = new Retention({
    store,
    dataDir: config.dataDir,
    claudeDir,
    queue,
    log,
    removeWorktree: (pid, iid) => workspaces.remove(pid, iid),
    mrState: (pid, iid) =>
      gitlab.mergeRequest(pid, iid).then(
        (m) => ({ state: m.state, closedAt: m.closedAt }),
        (e) => {
          if (e instanceof GitLabError && e.status === 404) return { state: 'gone' as const };
          throw e;
        },
      ),
    windows: {
      closedMrMs: config.RETENTION_CLOSED_MR_DAYS * DAY_MS,
      recordMs: config.RETENTION_RECORD_DAYS * DAY_MS,
      orphanMs: config.RETENTION_ORPHAN_DAYS * DAY_MS,
      failedJobMs: config.RETENTION_FAILED_JOB_DAYS * DAY_MS,
    },
  });
  metrics.trackSizes(() => retention.sizes());
  let shuttingDown = false;
  const stopping = new AbortController();
  const rateLimiter = new ProjectRateLimiter({ perMinute: config.PROJECT_RATE_LIMIT_PER_MIN });
  // ADMIN_PORT: the admin routes get their own listener, so publishing the webhook port exposes nothing else.
  const admin = config.ADMIN_PORT === undefined ? undefined : createAdminApp(log);
  const app = createApp({
    secret: config.GITLAB_WEBHOOK_SECRET,
    signingKey: config.GITLAB_WEBHOOK_SIGNING_KEY,
    maxBodyBytes: config.MAX_BODY_BYTES,
    queue,
    log,
    bot: () => bot,
    allowedProjects: config.ALLOWED_PROJECTS,
    rateLimit: rateLimiter,
    isShuttingDown: () => shuttingDown,
    webhooks: config.MR_REVIEWER_ROLE !== 'worker',
    onWebhook: metrics.webhook,
    extend: (main) => {
      const a = admin ?? main;
      a.get('/metrics', async (c) => {
        const m = await metrics.render();
        return c.body(m.body, 200, { 'Content-Type': m.contentType });
      });
      mountReadiness(a, { gitlab: gitlabStatus, dataDir: config.dataDir, redisPing: backend.ping, isShuttingDown: () => shuttingDown });
      mountStatusPage(a, { adminToken: config.ADMIN_TOKEN, store, queueStats: () => queue.stats(), notice: () => gitlabStatus.problem, sizes: () => retention.sizes(), learnings: () => new LearningsRepo(store).all() });
    },
  });

  let adminServer: ServerType | undefined;
  const adminPort = admin && (await new Promise<number>((resolve) => {
    adminServer = serve({ fetch: admin.fetch, port: config.ADMIN_PORT, hostname: config.HOST }, (info) => resolve(info.port));
  }));
  if (adminPort) log.info({ adminPort }, 'admin listening');

  let server: ServerType | undefined;
  const listening = new Promise<number>((resolve) => {
    server = serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST }, (info) => resolve(info.port));
  });
  const port = await listening;
  log.info({ port, pid: process.pid }, 'listening');

  // Who am I: notes by this user id are never answered. Retried until GitLab answers (or a CLI run gives up).
  const ready = (async () => {
    bot = await waitForIdentity(gitlab, { status: gitlabStatus, log, signal: stopping.signal, giveUpAfterMs: opts.gitlabWaitMs });
    log.info({ bot: bot.username, id: bot.id }, 'bot identity known');
    deps.enqueue = (spec) => queue.enqueue(spec);
    // MR_REVIEWER_ROLE=web only takes webhooks; worker and all run jobs.
    if (config.MR_REVIEWER_ROLE !== 'web') queue.start(jobHandler(deps, opts.flows));
    retention.start(config.RETENTION_SWEEP_MINUTES * 60_000);
  })();

  // Webhooks are still taken and persisted while running jobs drain (GitLab never redelivers one we refuse);
  // the server closes last, and the queue after every request in flight has been answered.
  const stop = async () => {
    if (shuttingDown) return;
    shuttingDown = true;
    stopping.abort();
    log.info({ deadlineMs: config.SHUTDOWN_DEADLINE_MS }, 'shutting down: no new jobs; webhooks still accepted');
    await queue.stop(config.SHUTDOWN_DEADLINE_MS);
    await retention.stop();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    await new Promise<void>((r) => (adminServer ? adminServer.close(() => r()) : r()));
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
  return { deps, queue, retention, port, adminPort, ready, stop };
}
