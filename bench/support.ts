// Shared by every bench module: statistics, the one table `npm run bench` prints, machine facts, the harness with
// timers around the bot's collaborators, and a bare `claude -p` call with the bot's own flags for a baseline.
//
// A module exports `run(): Promise<Section>`; run.ts prints all sections as one table. Machines here are noisy,
// so modules repeat (RUNS) and report medians and ratios against a baseline measured in the same run.
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { execa } from 'execa';
import { buildArgs, claudeBin, cliEnv, defaultClaudeBin, type SessionMode } from '../src/claude/options.js';
import { cliDirs } from '../src/claude/paths.js';
import { ClaudeSessionService } from '../src/claude/session-service.js';
import { readMarker } from '../src/gitlab/markers.js';
import { finding, reviewOutput, startHarness, waitFor, type Harness } from '../standins/harness.js';
import type { RecordedRequest, Reply } from '../standins/model.js';

/** `--quick` (BENCH_QUICK=1): each measurement once, with smaller loads (modules pick theirs with `quick(full, small)`). */
export const QUICK = process.env.BENCH_QUICK === '1';
export const quick = <T>(full: T, small: T): T => (QUICK ? small : full);
/** Repetitions per timed measurement; BENCH_RUNS overrides (e.g. 1 for a smoke run). */
export const RUNS = Number(process.env.BENCH_RUNS ?? quick(5, 1));

// ---- statistics -----------------------------------------------------------------------------------------------

export function percentile(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  // nearest-rank: the smallest value with at least p% of the samples at or below it
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))]!;
}

export function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

// ---- formatting -----------------------------------------------------------------------------------------------

export const ms = (x: number) => (Number.isFinite(x) ? (x >= 100 ? `${Math.round(x)} ms` : `${x.toFixed(1)} ms`) : 'n/a');
export const us = (x: number) => (Number.isFinite(x) ? `${x < 10 ? x.toFixed(1) : Math.round(x)} µs` : 'n/a');
export const ratio = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : 'n/a');
export const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : 'n/a');
export function bytes(x: number): string {
  if (!Number.isFinite(x)) return 'n/a';
  if (x < 1024) return `${Math.round(x)} B`;
  if (x < 1024 * 1024) return `${(x / 1024).toFixed(1)} KB`;
  return `${(x / 1024 / 1024).toFixed(1)} MB`;
}

/** One line of the table. `met` is true/false when there is a target, undefined otherwise. */
export interface Row {
  metric: string;
  value: string;
  baseline?: string;
  ratio?: string;
  target?: string;
  met?: boolean;
  note?: string;
}

export interface Section {
  id: string;
  title: string;
  rows: Row[];
  /** what the rows cannot say: a missed target's cause, a skipped backend */
  notes?: string[];
}

/** A section for a measurement that threw: the table still prints, with the reason. */
export function failedSection(id: string, title: string, e: unknown): Section {
  const msg = e instanceof Error ? e.message.split('\n')[0]! : String(e);
  return { id, title, rows: [{ metric: 'failed', value: 'n/a', note: msg.slice(0, 160) }] };
}

export { renderTable } from './report.js';

// ---- machine --------------------------------------------------------------------------------------------------

export function machineInfo(): string {
  const cpus = os.cpus();
  let claude = 'unknown';
  try {
    claude = execFileSync(defaultClaudeBin(), ['--version'], { encoding: 'utf8', timeout: 20_000 }).trim();
  } catch {
    /* reported as unknown */
  }
  let git = 'unknown';
  try {
    git = execFileSync('git', ['--version'], { encoding: 'utf8' }).trim().replace(/^git version /, '');
  } catch {
    /* reported as unknown */
  }
  return [
    `cpu: ${cpus[0]?.model.trim() ?? 'unknown'} × ${cpus.length} cores`,
    `memory: ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `os: ${os.type()} ${os.release()} (${os.arch()})`,
    `node ${process.version}, claude ${claude}, git ${git}`,
  ].join('; ');
}

// ---- the bot, timed -------------------------------------------------------------------------------------------

export interface Span {
  name: string;
  start: number;
  end: number;
  ok: boolean;
  /** the call's arguments (references, not copies): which discussion a reply went to, which prompt a CLI call ran */
  args: unknown[];
}

/** Spans of every call to the bot's GitLab client, workspaces, sessions and store, timed in the bench (src is unchanged). */
export class Timeline {
  spans: Span[] = [];
  private unwrap: (() => void)[] = [];

  /** Wrap each method of `obj` (an instance; its prototype's methods are shadowed by own properties). */
  wrap(prefix: string, obj: object, methods?: string[]): void {
    const target = obj as Record<string, unknown>;
    const names = methods ?? protoMethods(obj);
    for (const name of names) {
      const orig = target[name];
      if (typeof orig !== 'function') continue;
      const spans = this.spans;
      const hadOwn = Object.prototype.hasOwnProperty.call(target, name);
      target[name] = function (this: unknown, ...args: unknown[]) {
        const span: Span = { name: `${prefix}.${name}`, start: performance.now(), end: NaN, ok: true, args };
        spans.push(span);
        const r = (orig as (...a: unknown[]) => unknown).apply(this, args);
        if (r && typeof (r as Promise<unknown>).then === 'function') {
          return (r as Promise<unknown>).then(
            (v) => ((span.end = performance.now()), v),
            (e) => {
              span.end = performance.now();
              span.ok = false;
              throw e;
            },
          );
        }
        span.end = performance.now();
        return r;
      };
      this.unwrap.push(() => (hadOwn ? (target[name] = orig) : delete target[name]));
    }
  }

  /** Spans that started at or after `t0`, optionally of one name. */
  since(t0: number, name?: string | RegExp): Span[] {
    return this.spans.filter((s) => s.start >= t0 && (!name || (typeof name === 'string' ? s.name === name : name.test(s.name))));
  }

  restore(): void {
    for (const u of this.unwrap.reverse()) u();
    this.unwrap = [];
  }
}

function protoMethods(obj: object): string[] {
  const out = new Set<string>();
  for (let p = Object.getPrototypeOf(obj); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    // `call` is GitLabClient's private retry loop: every public method goes through it, so it would only add noise
    for (const k of Object.getOwnPropertyNames(p)) if (k !== 'constructor' && k !== 'call') out.add(k);
  }
  return [...out];
}

/** GitLab calls that write what a reader sees: the end of the last one is "the last posted comment". */
export const POSTS = /^gitlab\.(createNote|editNote|createDiscussion|createDiffDiscussion|reply|resolve)$/;

export interface BenchHarness extends Harness {
  timeline: Timeline;
  /** the prompt and options of every CLI call the bot made, in order */
  calls: { kind: 'start' | 'fork' | 'resume'; cwd: string; prompt: string; systemPrompt: string; jsonSchema?: object; sessionId: string; fromId?: string }[];
}

/**
 * The harness with answers that fit any request (review or reply, by the StructuredOutput schema), timers on the
 * bot's collaborators, and a record of the CLI calls' prompts. LOG_LEVEL is the production default (info).
 */
export async function benchHarness(env: Record<string, string> = {}): Promise<BenchHarness> {
  const h = await startHarness({ LOG_LEVEL: 'info', ...env });
  h.model.respond(instantAnswer);
  const timeline = new Timeline();
  const { gitlab, workspaces, store } = h.bot.deps;
  // The CLI calls under the session service: one span and one record per claude process.
  if (!(h.bot.deps.sessions instanceof ClaudeSessionService)) throw new Error('the bench measures the real session service');
  const sessions = h.bot.deps.sessions.cli;
  const calls: BenchHarness['calls'] = [];
  // Record the prompts first, so the timers below measure the whole call.
  const s = sessions as unknown as Record<string, (...a: any[]) => unknown>;
  const start = s.start!.bind(sessions);
  const fork = s.fork!.bind(sessions);
  const resume = s.resume!.bind(sessions);
  s.start = (cwd: string, id: string, prompt: string, o: any) => (calls.push({ kind: 'start', cwd, prompt, systemPrompt: o.systemPrompt, jsonSchema: o.jsonSchema, sessionId: id }), start(cwd, id, prompt, o));
  s.fork = (cwd: string, from: string, id: string, prompt: string, o: any) => (calls.push({ kind: 'fork', cwd, prompt, systemPrompt: o.systemPrompt, jsonSchema: o.jsonSchema, sessionId: id, fromId: from }), fork(cwd, from, id, prompt, o));
  s.resume = (cwd: string, id: string, prompt: string, o: any) => (calls.push({ kind: 'resume', cwd, prompt, systemPrompt: o.systemPrompt, jsonSchema: o.jsonSchema, sessionId: id }), resume(cwd, id, prompt, o));
  timeline.wrap('gitlab', gitlab);
  timeline.wrap('workspaces', workspaces, ['prepare', 'fetch', 'worktree', 'readAt', 'readManyAt', 'changedPaths', 'has', 'diff']);
  timeline.wrap('sessions', sessions, ['start', 'fork', 'resume']);
  timeline.wrap('store', store, ['getMr', 'updateMr', 'getThread', 'putThread']);
  const close = h.close;
  return Object.assign(h, {
    timeline,
    calls,
    close: async () => {
      timeline.restore();
      await close();
    },
  });
}

/** What a turn asks for: every turn shares one StructuredOutput schema, so the prompt tells them apart. */
export function turnKind(req: RecordedRequest): 'reply' | 'fix_check' | 'review' {
  if (req.lastUserText.includes('The comment to answer')) return 'reply';
  if (req.lastUserText.includes('Is your concern addressed?')) return 'fix_check';
  return 'review';
}

export const REPLY_ANSWER: Reply = { structured: { reply: 'It still holds: b can be 0.', verdict: 'answered' } };

/** The model stand-in's answer: a review with one finding, or a reply. */
export function instantAnswer(req: RecordedRequest): Reply | undefined {
  const kind = turnKind(req);
  if (kind === 'review') {
    return { structured: reviewOutput([finding({ file: 'src/math.js', start_line: 6, anchor_text: '  return a / b;', title: 'Division by zero' })]) };
  }
  if (kind === 'reply') return REPLY_ANSWER;
  return undefined;
}

// ---- MRs ------------------------------------------------------------------------------------------------------

/** A deterministic text file of `lines` lines (content varies with `seed`, so git cannot dedupe files). */
export function sourceFile(seed: string, lines: number): string {
  const out: string[] = [];
  for (let i = 0; i < lines; i++) out.push(`export function f_${seed.replace(/\W/g, '_')}_${i}(x) {\n  return x * ${i} + ${seed.length};\n}`);
  return `${out.join('\n')}\n`;
}

/** A project whose MR changes `changed` files of `files`; src/math.js gets the division the stand-in's finding is about. */
export async function makeMr(h: Harness, opts: { path: string; files?: number; linesPerFile?: number; changed?: number; branch?: string; project?: Awaited<ReturnType<Harness['gitlab']['createProject']>> }) {
  const files = opts.files ?? 20;
  const lines = opts.linesPerFile ?? 40;
  const project =
    opts.project ??
    (await h.gitlab.createProject(opts.path, {
      'README.md': '# app\n',
      'src/math.js': 'export function add(a, b) {\n  return a + b;\n}\n',
      ...Object.fromEntries(Array.from({ length: files }, (_, i) => [`src/mod${i}.js`, sourceFile(`${opts.path}/${i}`, lines)])),
    }));
  const branch = opts.branch ?? 'feature';
  const change: Record<string, string> = {
    'src/math.js': 'export function add(a, b) {\n  return a + b;\n}\n\nexport function div(a, b) {\n  return a / b;\n}\n',
  };
  for (let i = 0; i < (opts.changed ?? 3); i++) change[`src/${branch}-${i}.js`] = sourceFile(`${branch}-${i}`, lines);
  await h.gitlab.commit(project, branch, change, `${branch}: add div`);
  const mr = await h.gitlab.createMr(project, { sourceBranch: branch, title: `Add div (${branch})`, description: 'Adds div.', authorId: 11 });
  return { project, mr };
}

/** Send the MR's open hook; resolves when the summary note is posted and the queue is idle. */
export async function reviewViaWebhook(h: Harness, project: { id: number }, iid: number): Promise<{ t0: number; ackMs: number }> {
  const payload = h.gitlab.mrHook(project as never, iid, 'open');
  const t0 = performance.now();
  const res = await h.send(payload);
  const ackMs = performance.now() - t0;
  if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
  await waitFor(() => h.gitlab.notes(project as never, iid).some((n) => readMarker(n.body)?.kind === 'summary'), 60_000, 'summary note').catch((e: Error) => {
    throw new Error(`${e.message}; bot warnings: ${botTrouble(h)}`);
  });
  await h.bot.queue.drained();
  return { t0, ackMs };
}

/** The bot's last warnings and errors, for a bench that timed out waiting. */
export function botTrouble(h: Harness): string {
  return h.logs.filter((l) => /"level":"?(40|50|60|warn|error|fatal)/.test(l)).slice(-3).join(' | ').slice(0, 600) || 'none';
}

// ---- the bare CLI ---------------------------------------------------------------------------------------------

/**
 * One `claude -p` call with exactly the bot's flags, environment and working directory, timed from spawn to exit.
 * This is the floor a review cannot go below; the bot's overhead is what it adds on top.
 */
export async function bareClaude(h: Harness, o: { cwd: string; prompt: string; systemPrompt: string; jsonSchema?: object; mode: SessionMode }): Promise<number> {
  const env = cliEnv(h.config, cliDirs(h.config.dataDir));
  const args = buildArgs({ mode: o.mode, systemPrompt: o.systemPrompt, jsonSchema: o.jsonSchema, model: h.config.CLAUDE_MODEL });
  const t0 = performance.now();
  const r = await execa(claudeBin(h.config), args, { cwd: o.cwd, env, extendEnv: false, input: o.prompt, reject: false, timeout: 120_000 });
  const t = performance.now() - t0;
  if (r.exitCode !== 0) throw new Error(`bare claude exited ${r.exitCode}: ${String(r.stderr || r.stdout).slice(0, 300)}`);
  return t;
}

export { waitFor };
