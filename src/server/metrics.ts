// Prometheus metrics (prom-client), one registry per bot so several bots in one process (tests) stay apart.
// Labels are kept low-cardinality on purpose: no project paths, MR iids or session ids (those belong in logs).
// Every label value comes from a fixed set in this code: nothing a request sends (an event header, a path) can
// create a series, so a stranger cannot grow /metrics.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ClaudeError, type ClaudeResult } from '../claude/result.js';
import { running } from '../claude/run.js';
import { KNOWN_EVENTS } from '../events/classify.js';
import { GitLabError } from '../gitlab/requester.js';
import type { Job, Queue } from '../jobs/queue.js';
import { isTransient } from '../jobs/retry.js';
import type { Sizes } from '../store/retention.js';

/** What a CLI call was for. Sessions derives it from the mode; the session service may say more (e.g. 'fix_check'). */
export type CliKind = 'trunk_review' | 'fork' | 'resume' | 'fix_check' | (string & {});

export interface CliObservation {
  kind: CliKind;
  /** the whole call: lock and slot waits included */
  totalMs: number;
  /** the CLI process alone */
  wallMs: number;
  result?: ClaudeResult;
  error?: unknown;
}

/** What happened to a webhook delivery. */
export type WebhookOutcome =
  | 'queued' | 'delayed' | 'duplicate' | 'ignored' | 'unknown_event' | 'bad_payload' | 'not_allowed'
  | 'unauthorized' | 'bad_json' | 'too_large';

/** The X-Gitlab-Event header as a label: one of GitLab's event names, or "other". */
export function eventLabel(header: string | undefined): string {
  const e = (header ?? '').trim();
  return KNOWN_EVENTS.includes(e) ? e : 'other';
}

const DURATION_BUCKETS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200];

/** A short, bounded label for an error: never its message. */
export function reasonLabel(err: unknown): string {
  if (err instanceof ClaudeError) return `claude_${err.kind}`;
  if (err instanceof GitLabError) return err.status === 0 ? 'gitlab_network' : `gitlab_${err.status}`;
  if (err && typeof err === 'object') {
    const code = (err as { code?: unknown }).code ?? (err as { cause?: { code?: unknown } }).cause?.code;
    if (typeof code === 'string' && /^[A-Z_]{2,40}$/.test(code)) return `net_${code.toLowerCase()}`;
  }
  return isTransient(err) ? 'transient' : 'error';
}

export class Metrics {
  readonly registry = new Registry();
  private readonly webhooks = new Counter({ name: 'mr_reviewer_webhooks_total', help: 'Webhook deliveries by GitLab event and outcome', labelNames: ['event', 'outcome'], registers: [this.registry] });
  private readonly jobs = new Histogram({ name: 'mr_reviewer_job_duration_seconds', help: 'Queue jobs that finished, by job kind (review, update, reply)', labelNames: ['kind'], buckets: DURATION_BUCKETS, registers: [this.registry] });
  private readonly sessionTurns = new Histogram({ name: 'mr_reviewer_session_turn_duration_seconds', help: 'Claude session turns by kind (trunk_review, fork, resume, fix_check) and outcome, waiting for a CLI slot included', labelNames: ['kind', 'outcome'], buckets: DURATION_BUCKETS, registers: [this.registry] });
  private readonly cliWall = new Histogram({ name: 'mr_reviewer_cli_wall_seconds', help: 'Wall time of claude CLI processes by kind', labelNames: ['kind'], buckets: DURATION_BUCKETS, registers: [this.registry] });
  private readonly cost = new Counter({ name: 'mr_reviewer_cost_usd_total', help: 'Model cost reported by the CLI, by kind', labelNames: ['kind'], registers: [this.registry] });
  private readonly tokens = new Counter({ name: 'mr_reviewer_tokens_total', help: 'Model tokens by kind and type (input, output, cache_read, cache_creation)', labelNames: ['kind', 'type'], registers: [this.registry] });
  private readonly retries = new Counter({ name: 'mr_reviewer_job_retries_total', help: 'Job attempts that failed and will be retried, by job kind and reason', labelNames: ['kind', 'reason'], registers: [this.registry] });
  private readonly failures = new Counter({ name: 'mr_reviewer_job_failures_total', help: 'Jobs that failed for good, by job kind and reason', labelNames: ['kind', 'reason'], registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'mr_reviewer_cli_processes_running',
      help: 'claude CLI child processes running now',
      registers: [this.registry],
      collect() {
        this.set(running.count);
      },
    });
  }

  /** Queue depth and the age of the oldest waiting job, read at scrape time. */
  trackQueue(queue: Pick<Queue, 'stats'>): void {
    new Gauge({
      name: 'mr_reviewer_queue_jobs',
      help: 'Jobs in the queue by state (pending, running, failed)',
      labelNames: ['state'],
      registers: [this.registry],
      async collect() {
        const s = await queue.stats();
        this.set({ state: 'pending' }, s.pending);
        this.set({ state: 'running' }, s.running);
        this.set({ state: 'failed' }, s.failed);
      },
    });
    new Gauge({
      name: 'mr_reviewer_queue_oldest_pending_age_seconds',
      help: 'Age of the oldest pending job (0 when none)',
      registers: [this.registry],
      async collect() {
        this.set((await queue.stats()).oldestPendingAgeMs / 1000);
      },
    });
  }

  /** 1 once start-up's GET /user answered, 0 while the bot waits for GitLab. */
  trackGitLab(up: () => boolean): void {
    new Gauge({
      name: 'mr_reviewer_gitlab_up',
      help: 'Whether GitLab answered the start-up GET /user (0 while the bot waits for it; see /readyz)',
      registers: [this.registry],
      collect() {
        this.set(up() ? 1 : 0);
      },
    });
  }

  /** What retention measured at its last sweep (never the disk or Redis at scrape time). */
  trackSizes(sizes: () => Sizes | undefined): void {
    const gauge = (name: string, help: string, label: string, values: (s: Sizes) => Record<string, number>) =>
      new Gauge({
        name, help, labelNames: [label], registers: [this.registry],
        collect() {
          const s = sizes();
          for (const [k, v] of Object.entries(s ? values(s) : {})) this.set({ [label]: k }, v);
        },
      });
    gauge('mr_reviewer_data_dir_bytes', 'Disk use under DATA_DIR by part (work, repos, transcripts, state), at the last retention sweep', 'part', (s) => s.disk);
    gauge('mr_reviewer_store_records', 'Records in the store by kind (mrs, threads, failures), at the last retention sweep', 'kind', (s) => s.records);
  }

  readonly webhook = (event: string | undefined, outcome: WebhookOutcome): void => {
    this.webhooks.inc({ event: eventLabel(event), outcome });
  };

  readonly jobDone = (job: Job, ms: number): void => {
    this.jobs.observe({ kind: job.kind }, ms / 1000);
  };

  readonly jobRetry = (job: Job, err: unknown): void => {
    this.retries.inc({ kind: job.kind, reason: reasonLabel(err) });
  };

  readonly jobFailed = (job: Job, err: unknown): void => {
    this.failures.inc({ kind: job.kind, reason: reasonLabel(err) });
  };

  /** One CLI call (Sessions reports every call here). Failed calls count their cost too: budget errors still cost. */
  readonly observeCli = (o: CliObservation): void => {
    const kind = o.kind;
    this.sessionTurns.observe({ kind, outcome: o.error ? reasonLabel(o.error) : 'ok' }, o.totalMs / 1000);
    this.cliWall.observe({ kind }, o.wallMs / 1000);
    const cost = o.result?.costUsd ?? (o.error instanceof ClaudeError ? o.error.details.costUsd : undefined) ?? 0;
    if (cost > 0) this.cost.inc({ kind }, cost);
    const u = o.result?.usage;
    if (!u) return;
    const types = { input: u.input_tokens, output: u.output_tokens, cache_read: u.cache_read_input_tokens, cache_creation: u.cache_creation_input_tokens };
    for (const [type, n] of Object.entries(types)) if (n && n > 0) this.tokens.inc({ kind, type }, n);
  };

  async render(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
