// 4. Webhook acknowledgement: latency and throughput of POST /webhooks/gitlab at a fixed rate on loopback, for
// (a) the bot's real app (token check, body limit, JSON, classify, durable SQLite enqueue; every request a distinct
//     Idempotency-Key, MR and head commit, so each one is a real insert). No review runs: the flow table parks each job
//     until shutdown, so as with real reviews the slots stay busy and the backlog grows while webhooks arrive; and
// (b) a bare hono handler that only parses the same JSON body, measured in the same run as the baseline.
// Both servers run in one child process (this file with --target) so the load generator does not share their event
// loop; it still shares the machine's cores, as on a real host.
//
//   node --import tsx bench/webhook.ts        BENCH_RATE, BENCH_SECONDS override 1000 req/s and 10 s;
//                                             BENCH_PROFILE=<dir> writes a CPU profile of the servers there
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import autocannon from 'autocannon';
import { Hono } from 'hono';
import { loadConfig } from '../src/config.js';
import type { FlowTable } from '../src/flows/dispatch.js';
import { createLogger } from '../src/logger.js';
import { startBot } from '../src/main.js';
import { makeRedactor } from '../src/redact.js';
import { startGitlabStandin } from '../standins/gitlab.js';
import { BOT, botEnv, SECRET, TOKEN } from '../standins/harness.js';
import { OUTCOME_HEADER } from '../src/server/app.js';
import { ms, percentile, quick, ratio, renderTable, type Section } from './support.js';

const SELF = fileURLToPath(import.meta.url);
/** GitLab delivers hooks from several Sidekiq workers at once: 20 keep-alive connections. */
const CONNECTIONS = 20;
const SHA_SLOT = '__HEAD_SHA__';
const IID_SLOT = '"__IID__"';

export interface Measured {
  name: string;
  reqPerSec: number;
  p50: number;
  p99: number;
  max: number;
  errors: number;
  non2xx: number;
  /** bot only: answers that were not "queued" (a duplicate would not be a real insert) */
  notQueued: number;
  total: number;
  /** the servers' CPU time per request: unlike latency, barely moved by other work on the machine */
  cpuPerRequestMicros: number;
}

interface Tally {
  isBot: boolean;
  samples: number[];
  notQueued: number;
  total: number;
  seconds: number;
  errors: number;
  non2xx: number;
  /** CPU time of the servers' process while this target was loaded */
  cpuMicros: number;
}

function summarize(name: string, t: Tally): Measured {
  return {
    name,
    reqPerSec: t.total / t.seconds,
    p50: percentile(t.samples, 50),
    p99: percentile(t.samples, 99),
    max: t.samples.reduce((a, b) => Math.max(a, b), 0),
    errors: t.errors,
    non2xx: t.non2xx,
    notQueued: t.notQueued,
    total: t.total,
    cpuPerRequestMicros: t.cpuMicros / t.total,
  };
}

interface Targets {
  bot: string;
  bare: string;
  /** a real Merge Request Hook payload with SHA_SLOT where the head commit goes and IID_SLOT for the MR */
  template: string;
}

export async function run(o: { rate?: number; seconds?: number } = {}): Promise<Section> {
  return toSection(await measure(o));
}

function toSection({ bot, bare, rate, saturation, fsync }: WebhookResult): Section {
  const sustained = (m: Measured) => m.errors === 0 && m.non2xx === 0 && m.notQueued === 0 && m.reqPerSec >= rate * 0.97;
  return {
    id: '4',
    title: `Webhook ack at ${rate} req/s`,
    rows: [
      { metric: 'p50 (durable enqueue)', value: ms(bot.p50), baseline: `${ms(bare.p50)} bare hono`, ratio: ratio(bot.p50 / bare.p50), target: '≤ 1.5×', met: bot.p50 <= 1.5 * bare.p50 },
      { metric: 'p99', value: ms(bot.p99), baseline: ms(bare.p99), ratio: ratio(bot.p99 / bare.p99), target: '≤ 1.5×', met: bot.p99 <= 1.5 * bare.p99 },
      { metric: 'max', value: ms(bot.max), baseline: ms(bare.max), ratio: ratio(bot.max / bare.max) },
      { metric: 'throughput', value: `${Math.round(bot.reqPerSec)} req/s`, baseline: `${Math.round(bare.reqPerSec)} req/s`, target: `${rate} req/s, no errors`, met: sustained(bot) },
      { metric: 'errors / non-2xx / not queued', value: `${bot.errors} / ${bot.non2xx} / ${bot.notQueued} of ${bot.total}`, baseline: `${bare.errors} / ${bare.non2xx} of ${bare.total}` },
      {
        metric: 'CPU per request (servers\' process)',
        value: `${Math.round(bot.cpuPerRequestMicros)} µs`,
        baseline: `${Math.round(bare.cpuPerRequestMicros)} µs`,
        ratio: ratio(bot.cpuPerRequestMicros / bare.cpuPerRequestMicros),
        note: 'barely moved by other load on the machine, unlike latency',
      },
      { metric: 'one fdatasync on this disk, p50 / p99 (after the load)', value: `${ms(fsync.p50)} / ${ms(fsync.p99)}`, note: 'the floor under a durable answer\'s latency' },
      {
        metric: `throughput at saturation (${CONNECTIONS} connections, no rate limit)`,
        value: `${Math.round(saturation.bot.reqPerSec)} req/s`,
        baseline: `${Math.round(saturation.bare.reqPerSec)} req/s`,
        ratio: ratio(saturation.bot.reqPerSec / saturation.bare.reqPerSec),
        note: `p50 ${ms(saturation.bot.p50)} vs ${ms(saturation.bare.p50)}; ${saturation.bot.errors + saturation.bot.non2xx + saturation.bot.notQueued} not queued; CPU per request ${Math.round(saturation.bot.cpuPerRequestMicros)} vs ${Math.round(saturation.bare.cpuPerRequestMicros)} µs`,
      },
    ],
    notes: [
      'each request a distinct Idempotency-Key, MR and head commit: every "queued" answer is a SQLite commit whose WAL was fdatasync\'ed before the answer',
      'latency as autocannon timed each response; the load generator shares the cores with both servers; both servers run in one process, loaded in turn (2 s rounds), so its CPU time per round is the loaded server\'s',
    ],
  };
}

/** Both targets at the same fixed rate, in alternating 2 s rounds adding up to `seconds` each, after a warm-up. */
export interface WebhookResult {
  bot: Measured;
  bare: Measured;
  rate: number;
  /** the same servers with no rate limit: how many deliveries per second each takes */
  saturation: { bot: Measured; bare: Measured };
  /** one fdatasync on the data directory's disk, measured after the load */
  fsync: { p50: number; p99: number };
}

export async function measure(o: { rate?: number; seconds?: number } = {}): Promise<WebhookResult> {
  const rate = o.rate ?? Number(process.env.BENCH_RATE ?? 1000);
  const seconds = o.seconds ?? Number(process.env.BENCH_SECONDS ?? quick(10, 2));
  const child = spawn(process.execPath, [...(process.env.BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROFILE] : []), '--import', 'tsx', SELF, '--target'], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    // The child answers on stdout, one JSON line per question: first its targets, then its CPU time when asked.
    const answers: { resolve: (line: string) => void; reject: (e: Error) => void }[] = [];
    createInterface({ input: child.stdout! }).on('line', (l) => answers.shift()?.resolve(l));
    child.once('exit', (code) => answers.splice(0).forEach((a) => a.reject(new Error(`bench target exited (${code})`))));
    const ask = <T>(question?: string) =>
      new Promise<T>((resolve, reject) => {
        answers.push({ resolve: (l) => resolve(JSON.parse(l) as T), reject });
        if (question) child.stdin!.write(`${question}\n`);
      });
    const t = await ask<Targets>();
    /** CPU time (user + system, µs) the servers' process used so far: only one target is loaded at a time. */
    const cpu = async () => {
      const u = await ask<NodeJS.CpuUsage>('cpu');
      return u.user + u.system;
    };
    let seq = 0;
    /** One stretch of load at the fixed rate (none: as fast as the server answers); latencies as autocannon timed each response (float ms). */
    const load = async (url: string, secs: number, into: Tally, atRate: number | undefined = rate): Promise<void> => {
      const inst = autocannon({
        url: `${url}/webhooks/gitlab`,
        method: 'POST',
        connections: CONNECTIONS,
        duration: secs,
        ...(atRate ? { overallRate: atRate } : {}),
        requests: [
          {
            // The outcome is a header (the body stays empty, as GitLab stores it): anything but "queued" was no insert.
            onResponse: (_status, _body, _ctx, headers) => {
              if (into.isBot && headers[OUTCOME_HEADER] !== 'queued') into.notQueued++;
            },
            setupRequest: (req) => {
              const n = ++seq;
              return {
                ...req,
                method: 'POST',
                // a new MR and head commit each time: no dedupe hit, and a burst spread over many MRs, as in life
                body: t.template.replace(SHA_SLOT, n.toString(16).padStart(40, '0')).replace(IID_SLOT, String(n)),
                headers: {
                  'content-type': 'application/json',
                  'x-gitlab-event': 'Merge Request Hook',
                  'x-gitlab-token': SECRET,
                  'idempotency-key': `bench-${process.pid}-${n}`,
                },
              };
            },
          },
        ],
      });
      inst.on('response', (_c, _s, _b, took) => into.samples.push(took));
      const cpu0 = await cpu();
      const r = await inst;
      into.cpuMicros += (await cpu()) - cpu0;
      into.total += r.requests.total;
      into.seconds += r.duration;
      into.errors += r.errors;
      into.non2xx += r.non2xx;
    };
    const tally = (isBot: boolean): Tally => ({ isBot, samples: [], notQueued: 0, total: 0, seconds: 0, errors: 0, non2xx: 0, cpuMicros: 0 });
    await load(t.bare, 1, tally(false)); // warm-up: JIT, connections, SQLite pages
    await load(t.bot, 1, tally(true));
    // Interleaved rounds, so a burst of other work on the machine hits both targets alike.
    const bareT = tally(false);
    const botT = tally(true);
    const round = Math.min(2, seconds);
    for (let done = 0; done < seconds; done += round) {
      await load(t.bare, round, bareT);
      await load(t.bot, round, botT);
    }
    const bare = summarize('bare hono (parse only)', bareT);
    const bot = summarize('bot (verify, classify, SQLite enqueue)', botT);
    // Saturation: no rate, every connection sends its next request as soon as the last is answered.
    const satSeconds = Number(process.env.BENCH_SATURATION_SECONDS ?? quick(4, 1));
    const bareSat = tally(false);
    const botSat = tally(true);
    await load(t.bare, satSeconds, bareSat, undefined);
    await load(t.bot, satSeconds, botSat, undefined);
    const fsync = await ask<{ p50: number; p99: number }>('fsync');
    return { bot, bare, rate, fsync, saturation: { bare: summarize('bare hono, saturated', bareSat), bot: summarize('bot, saturated', botSat) } };
  } finally {
    child.stdin!.end(); // the target cleans up and exits when its stdin closes
    await new Promise((r) => (child.exitCode === null ? child.once('exit', r) : r(null)));
  }
}

/** The child: GitLab stand-in (for GET /user and a real payload), the bot with no-op flows, and the bare handler. */
async function serveTargets(): Promise<void> {
  const gitlab = await startGitlabStandin({ token: TOKEN, bot: BOT });
  const project = await gitlab.createProject('bench/app', { 'README.md': '# app\n', 'src/a.js': 'export const a = 1;\n' });
  await gitlab.commit(project, 'feature', { 'src/a.js': 'export const a = 2;\n' }, 'change a');
  const mr = await gitlab.createMr(project, { sourceBranch: 'feature', title: 'Change a', description: 'A realistic description.\n'.repeat(20) });
  const payload = gitlab.mrHook(project, mr.iid, 'open');
  payload.object_attributes.last_commit.id = SHA_SLOT;
  payload.object_attributes.iid = JSON.parse(IID_SLOT);

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-bench-webhook-'));
  const config = loadConfig({
    ...botEnv(gitlab.url, dataDir),
    MAX_CONCURRENT_SESSIONS: '2',
    LOG_LEVEL: 'info',
    // one project takes all the load here; the per-project limiter stays in the path, with room for it
    PROJECT_RATE_LIMIT_PER_MIN: '1000000',
    SHUTDOWN_DEADLINE_MS: '500',
  });
  // The bot logs a line per webhook, as in production; the lines go nowhere, the work of making them is measured.
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const logger = createLogger({ level: config.LOG_LEVEL, redact: makeRedactor(config.secrets), destination: sink });
  // Like a long review: holds its slot until the bot stops (then it is put back, as on SIGTERM).
  const park = (_d: unknown, _e: unknown, ctx: { signal: AbortSignal }) =>
    new Promise<never>((_r, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
  const parked: FlowTable = { review: park, update: park, reply: park };
  const bot = await startBot(config, { logger, flows: parked });

  const bareApp = new Hono();
  bareApp.post('/webhooks/gitlab', async (c) => {
    JSON.parse(await c.req.text());
    return c.text('ok');
  });
  const barePort = await new Promise<number>((resolve) => serve({ fetch: bareApp.fetch, port: 0, hostname: '127.0.0.1' }, (i) => resolve(i.port)));

  process.stdout.write(`${JSON.stringify({ bot: `http://127.0.0.1:${bot.port}`, bare: `http://127.0.0.1:${barePort}`, template: JSON.stringify(payload) } satisfies Targets)}\n`);
  const questions = createInterface({ input: process.stdin });
  questions.on('line', (l) => {
    if (l === 'cpu') process.stdout.write(`${JSON.stringify(process.cpuUsage())}\n`);
    if (l === 'fsync') process.stdout.write(`${JSON.stringify(fsyncLatency(dataDir))}\n`);
  });
  await new Promise((r) => questions.once('close', r));
  await bot.stop();
  await gitlab.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  process.exit(0);
}

/** What one fdatasync costs on this disk right now (4 KB appended each time): the floor a durable answer pays. */
function fsyncLatency(dir: string, n = 50): { p50: number; p99: number } {
  const file = path.join(dir, 'fsync-probe');
  const fd = fs.openSync(file, 'w');
  const took: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      fs.writeSync(fd, Buffer.alloc(4096, i));
      const t = performance.now();
      fs.fdatasyncSync(fd);
      took.push(performance.now() - t);
    }
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
  return { p50: percentile(took, 50), p99: percentile(took, 99) };
}

function printDetail(r: WebhookResult): void {
  const rows = [r.bare, r.bot, r.saturation.bare, r.saturation.bot].map((m) => [m.name, `${Math.round(m.reqPerSec)}`, m.p50.toFixed(2), m.p99.toFixed(2), m.max.toFixed(1), `${m.errors}`, `${m.non2xx}`, `${Math.round(m.cpuPerRequestMicros)}`]);
  const head = ['target', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'non-2xx', 'CPU µs/req'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |`;
  console.log([line(head), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...rows.map(line)].join('\n'));
  console.log(`ratio bot/bare: p50 ${(r.bot.p50 / r.bare.p50).toFixed(2)}×, p99 ${(r.bot.p99 / r.bare.p99).toFixed(2)}× (target ≤ 1.5×)\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === SELF) {
  if (process.argv[2] === '--target') await serveTargets();
  else {
    const r = await measure();
    printDetail(r);
    console.log(renderTable([toSection(r)]));
  }
}
