// 8. Review throughput: reviews per minute with 1, 2 and 4 job slots (MAX_CONCURRENT_SESSIONS) on the embedded
// SQLite queue and on Redis (BullMQ), with the model stand-in answering instantly, and where the time goes when it
// saturates. The bot runs as a child process (`mr-reviewer serve`, as in production); CPU is read from /proc: the
// CLI processes (sampled), the rest of the bot's children (git), the bot itself, and the stand-ins (this process and
// its children: GitLab's API and git http-backend), so the table says which of them the machine ran out for.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { readMarker } from '../src/gitlab/markers.js';
import { startBotProcess } from '../standins/bot-process.js';
import { startGitlabStandin, type GitlabStandin } from '../standins/gitlab.js';
import { ALICE, BOT, TOKEN } from '../standins/harness.js';
import { startModelStandin, type ModelStandin } from '../standins/model.js';
import { processTree } from './memory.js';
import { REDIS_URL, redisUp } from './store.js';
import { instantAnswer, pct, quick, sourceFile, type Row, type Section } from './support.js';

const SLOTS = quick([1, 2, 4], [1, 2]);
/** reviews per slot in one burst: enough that the slots stay busy well past the first CLI start */
const PER_SLOT = Number(process.env.BENCH_THROUGHPUT_PER_SLOT ?? quick(6, 2));
const TICKS = 100; // USER_HZ: clock ticks per second in /proc, 100 on every Linux the bench runs on

/** utime+stime, and the reaped children's cutime+cstime, of one process (ms). */
function cpuOf(pid: number | 'self'): { own: number; children: number } {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ms = (i: number) => (Number(f[i]) * 1000) / TICKS;
    return { own: ms(11) + ms(12), children: ms(13) + ms(14) };
  } catch {
    return { own: 0, children: 0 };
  }
}

/** CPU of every CLI process below the bot: the largest utime+stime seen per pid (they live for the whole call). */
function cliSampler(root: number) {
  const seen = new Map<number, number>();
  const tick = () => {
    for (const p of processTree(root)) {
      if (p.pid === root || !/claude/.test(p.cmd)) continue;
      seen.set(p.pid, Math.max(seen.get(p.pid) ?? 0, cpuOf(p.pid).own));
    }
  };
  const timer = setInterval(tick, 40);
  return () => (clearInterval(timer), tick(), [...seen.values()].reduce((a, b) => a + b, 0));
}

interface Burst {
  reviews: number;
  seconds: number;
  /** CPU ms by whom */
  cpu: { cli: number; git: number; bot: number; standins: number };
}

async function burst(gitlab: GitlabStandin, model: ModelStandin, slots: number, env: Record<string, string>, tag: string): Promise<Burst> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-bench-tput-'));
  const bot = await startBotProcess({ gitlab, model, dataDir, env: { MAX_CONCURRENT_SESSIONS: String(slots), LOG_LEVEL: 'info', PROJECT_RATE_LIMIT_PER_MIN: '100000', ...env } });
  try {
    const n = slots * PER_SLOT;
    // One project per slot, each with PER_SLOT MRs: projects' mirrors are warm after their first MR, as in life.
    const mrs: { project: Awaited<ReturnType<GitlabStandin['createProject']>>; mr: Awaited<ReturnType<GitlabStandin['createMr']>> }[] = [];
    for (let s = 0; s < slots; s++) {
      const project = await gitlab.createProject(`bench/tput-${tag}-${s}`, {
        'src/math.js': 'export function add(a, b) {\n  return a + b;\n}\n',
        ...Object.fromEntries(Array.from({ length: 20 }, (_, f) => [`src/mod${f}.js`, sourceFile(`${tag}-${s}-${f}`, 40)])),
      });
      for (let i = 0; i < PER_SLOT; i++) {
        await gitlab.commit(project, `f${i}`, { 'src/math.js': `export function add(a, b) {\n  return a + b;\n}\n\nexport function div${i}(a, b) {\n  return a / b;\n}\n` });
        mrs.push({ project, mr: await gitlab.createMr(project, { sourceBranch: `f${i}`, title: `Add div ${i}`, authorId: ALICE.id }) });
      }
    }
    const done = () => mrs.filter(({ project, mr }) => gitlab.notes(project, mr.iid).some((x) => readMarker(x.body)?.kind === 'summary')).length;
    const cli = cliSampler(bot.pid);
    const bot0 = cpuOf(bot.pid);
    const self0 = cpuOf('self');
    const t0 = performance.now();
    await Promise.all(mrs.map(({ project, mr }) => bot.send(gitlab.mrHook(project, mr.iid, 'open'))));
    const end = Date.now() + 600_000;
    while (done() < n) {
      if (Date.now() > end) throw new Error(`${done()} of ${n} reviews finished with ${slots} slots`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const seconds = (performance.now() - t0) / 1000;
    const cliMs = cli();
    const bot1 = cpuOf(bot.pid);
    const self1 = cpuOf('self');
    return {
      reviews: n,
      seconds,
      cpu: {
        cli: cliMs,
        git: Math.max(0, bot1.children - bot0.children - cliMs),
        bot: bot1.own - bot0.own,
        standins: self1.own - self0.own + (self1.children - self0.children),
      },
    };
  } finally {
    await bot.term();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

function rows(backend: string, results: { slots: number; b: Burst }[]): Row[] {
  const cores = os.cpus().length;
  const one = results[0]!.b;
  const perMin = (b: Burst) => (b.reviews / b.seconds) * 60;
  return results.map(({ slots, b }) => {
    const total = b.cpu.cli + b.cpu.git + b.cpu.bot + b.cpu.standins;
    const busy = total / (b.seconds * 1000 * cores);
    const share = (x: number) => pct(x / total);
    return {
      metric: `${backend}, ${slots} slot${slots > 1 ? 's' : ''}: reviews per minute`,
      value: `${perMin(b).toFixed(0)}`,
      baseline: slots > 1 ? `${perMin(one).toFixed(0)} with 1 slot` : undefined,
      ratio: slots > 1 ? `${(perMin(b) / perMin(one)).toFixed(2)}×` : undefined,
      note: `${b.reviews} reviews in ${b.seconds.toFixed(1)} s; CPU ${pct(busy)} of ${cores} cores: CLI ${share(b.cpu.cli)}, git ${share(b.cpu.git)}, bot ${share(b.cpu.bot)}, stand-ins (GitLab API, git server, model) ${share(b.cpu.standins)}`,
    };
  });
}

async function clearPrefix(prefix: string): Promise<void> {
  const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) await r.del(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}

export async function run(): Promise<Section> {
  const model = await startModelStandin();
  model.respond(instantAnswer);
  const gitlab = await startGitlabStandin({ token: TOKEN, bot: BOT });
  gitlab.addUser(ALICE);
  const notes: string[] = [];
  try {
    const out: Row[] = [];
    const sqlite = [];
    for (const slots of SLOTS) sqlite.push({ slots, b: await burst(gitlab, model, slots, {}, `sqlite-${slots}`) });
    out.push(...rows('SQLite', sqlite));
    if (await redisUp()) {
      const redis = [];
      for (const slots of SLOTS) {
        const prefix = `mrr-bench-${randomUUID().slice(0, 8)}`;
        try {
          redis.push({ slots, b: await burst(gitlab, model, slots, { REDIS_URL, REDIS_PREFIX: prefix }, `redis-${slots}`) });
        } finally {
          await clearPrefix(prefix);
        }
      }
      out.push(...rows('Redis', redis));
    } else notes.push(`Redis not measured: nothing answers at ${REDIS_URL}`);
    notes.push('a slot is one review at a time (MAX_CONCURRENT_SESSIONS); CPU from /proc: CLI processes sampled every 40 ms, git = the bot\'s other children');
    return { id: '8', title: 'Review throughput', rows: out, notes };
  } finally {
    await model.close();
    await gitlab.close();
  }
}
