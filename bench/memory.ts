// 5. Memory: peak RSS of the bot process and of its CLI children with 1, 2 and 4 reviews at once. The bot runs as
// a child process (`mr-reviewer serve`, as in production) so its RSS is its own, not the bench's or the stand-ins';
// its process tree is sampled from /proc every 25 ms. The CLI forks itself (helpers like rg run as claude.exe), and
// a fork's RSS counts the parent's pages again: the CLI figures are PSS, which counts shared pages once.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readMarker } from '../src/gitlab/markers.js';
import { startBotProcess } from '../standins/bot-process.js';
import { startGitlabStandin, type GitlabStandin } from '../standins/gitlab.js';
import { ALICE, BOT, TOKEN } from '../standins/harness.js';
import { startModelStandin, type ModelStandin } from '../standins/model.js';
import { bytes, instantAnswer, median, quick, sourceFile, type Row, type Section } from './support.js';

const LEVELS = quick([1, 2, 4], [1, 2]);
const ROUNDS = Number(process.env.BENCH_MEMORY_ROUNDS ?? quick(3, 1));
const PAGE_BYTES = 4096;

interface Proc {
  pid: number;
  ppid: number;
  cmd: string;
  rssBytes: number;
}

/** Every process below `root` (inclusive), with its resident set size. Processes that exit mid-read are skipped. */
export function processTree(root: number): Proc[] {
  const all = new Map<number, Proc>();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      // the command name is in parentheses and may itself contain spaces and parentheses
      const close = stat.lastIndexOf(')');
      const fields = stat.slice(close + 2).split(' ');
      const rssPages = Number(fields[21]);
      all.set(Number(e), { pid: Number(e), ppid: Number(fields[1]), cmd: stat.slice(stat.indexOf('(') + 1, close), rssBytes: rssPages * PAGE_BYTES });
    } catch {
      /* gone */
    }
  }
  const out: Proc[] = [];
  const queue = [root];
  const kids = new Map<number, Proc[]>();
  for (const p of all.values()) kids.set(p.ppid, [...(kids.get(p.ppid) ?? []), p]);
  while (queue.length) {
    const pid = queue.shift()!;
    const p = all.get(pid);
    if (p) out.push(p);
    for (const k of kids.get(pid) ?? []) queue.push(k.pid);
  }
  return out;
}

/** Proportional set size: a process's own pages plus its share of pages it shares with others. */
function pssBytes(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The CLI is a native executable (claude.exe); `comm` is cut at 15 characters. */
const isCli = (p: Proc) => /claude/.test(p.cmd);

interface Peak {
  /** RSS of the bot process */
  bot: number;
  /** PSS of every CLI process and its helpers */
  cli: number;
  /** the largest PSS of one CLI call (its process and helpers) */
  cliEach: number;
  /** CLI calls running at once */
  calls: number;
}

function sampler(root: number) {
  const peak: Peak = { bot: 0, cli: 0, cliEach: 0, calls: 0 };
  const tick = () => {
    const tree = processTree(root);
    const byPid = new Map(tree.map((p) => [p.pid, p]));
    // A call is a CLI process whose parent is not one; everything below it belongs to that call.
    const callOf = (p: Proc): number | undefined => {
      let call: number | undefined;
      for (let q: Proc | undefined = p; q && q.pid !== root; q = byPid.get(q.ppid)) if (isCli(q)) call = q.pid;
      return call;
    };
    const perCall = new Map<number, number>();
    for (const p of tree) {
      const call = callOf(p);
      if (call !== undefined) perCall.set(call, (perCall.get(call) ?? 0) + pssBytes(p.pid));
    }
    const cli = [...perCall.values()];
    peak.bot = Math.max(peak.bot, byPid.get(root)?.rssBytes ?? 0);
    peak.cli = Math.max(peak.cli, cli.reduce((a, b) => a + b, 0));
    peak.cliEach = Math.max(peak.cliEach, ...cli);
    peak.calls = Math.max(peak.calls, perCall.size);
  };
  const timer = setInterval(tick, 25);
  tick();
  return { peak, stop: () => (clearInterval(timer), tick(), peak) };
}

async function level(gitlab: GitlabStandin, model: ModelStandin, n: number): Promise<{ idle: number; rounds: Peak[] }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-bench-mem-'));
  const bot = await startBotProcess({ gitlab, model, dataDir, env: { MAX_CONCURRENT_SESSIONS: String(n), LOG_LEVEL: 'info' } });
  try {
    await new Promise((r) => setTimeout(r, 300));
    const idle = processTree(bot.pid).find((p) => p.pid === bot.pid)?.rssBytes ?? 0;
    const rounds: Peak[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const mrs = await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const project = await gitlab.createProject(`bench/mem-${n}-${round}-${i}`, {
            'src/math.js': 'export function add(a, b) {\n  return a + b;\n}\n',
            ...Object.fromEntries(Array.from({ length: 20 }, (_, f) => [`src/mod${f}.js`, sourceFile(`${n}-${round}-${i}-${f}`, 40)])),
          });
          await gitlab.commit(project, 'feature', { 'src/math.js': 'export function add(a, b) {\n  return a + b;\n}\n\nexport function div(a, b) {\n  return a / b;\n}\n' });
          return { project, mr: await gitlab.createMr(project, { sourceBranch: 'feature', title: 'Add div', authorId: ALICE.id }) };
        }),
      );
      const s = sampler(bot.pid);
      await Promise.all(mrs.map(({ project, mr }) => bot.send(gitlab.mrHook(project, mr.iid, 'open'))));
      const end = Date.now() + 120_000;
      while (!mrs.every(({ project, mr }) => gitlab.notes(project, mr.iid).some((x) => readMarker(x.body)?.kind === 'summary'))) {
        if (Date.now() > end) throw new Error(`${n} concurrent reviews did not finish`);
        await new Promise((r) => setTimeout(r, 20));
      }
      rounds.push(s.stop());
    }
    return { idle, rounds };
  } finally {
    await bot.term();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function run(): Promise<Section> {
  const model = await startModelStandin();
  model.respond(instantAnswer);
  const gitlab = await startGitlabStandin({ token: TOKEN, bot: BOT });
  gitlab.addUser(ALICE);
  try {
    const rows: Row[] = [];
    let idle = 0;
    for (const n of LEVELS) {
      const r = await level(gitlab, model, n);
      idle = r.idle;
      const m = (f: (p: Peak) => number) => median(r.rounds.map(f));
      rows.push({
        metric: `${n} review${n > 1 ? 's' : ''} at once: bot RSS / all CLI children PSS`,
        value: `${bytes(m((p) => p.bot))} / ${bytes(m((p) => p.cli))}`,
        note: `${m((p) => p.calls)} CLI call${n > 1 ? 's' : ''} at once, the largest ${bytes(m((p) => p.cliEach))}`,
      });
    }
    rows.push({ metric: 'bot idle after start', value: bytes(idle) });
    return { id: '5', title: 'Memory (peak)', rows, notes: ['CLI figures are PSS (shared pages counted once): the CLI forks itself, and RSS would count each fork twice'] };
  } finally {
    await model.close();
    await gitlab.close();
  }
}
