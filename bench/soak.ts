// Soak ("a year of uptime"): a steady stream of MRs through many retention cycles. The bot runs as a child
// process (`mr-reviewer serve`) with retention windows of seconds instead of days (the fast clock) and an instant
// model; every cycle opens MRs, reviews them, answers one thread on each, merges them, and waits until retention
// has purged them. After each cycle the bot's own /metrics gives disk use under DATA_DIR, store record counts and
// the process's RSS. Not in `npm test`: `npm run bench -- soak` (BENCH_SOAK_CYCLES, BENCH_SOAK_MRS).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readMarker } from '../src/gitlab/markers.js';
import { startBotProcess, type BotProcess } from '../standins/bot-process.js';
import { startGitlabStandin } from '../standins/gitlab.js';
import { ALICE, BOT, TOKEN } from '../standins/harness.js';
import { startModelStandin } from '../standins/model.js';
import { bytes, instantAnswer, type Row, type Section } from './support.js';

const CYCLES = Number(process.env.BENCH_SOAK_CYCLES ?? 12);
const MRS = Number(process.env.BENCH_SOAK_MRS ?? 4);
/** one "day" of the bot's retention clock, in real seconds */
const DAY_S = 1;
const days = (seconds: number) => String(seconds / DAY_S / 86_400);

interface Sample {
  cycle: number;
  mrs: number;
  disk: Record<string, number>;
  records: Record<string, number>;
  rss: number;
}

async function metrics(bot: BotProcess): Promise<string> {
  return (await fetch(`${bot.url}/metrics`)).text();
}

function gauge(text: string, name: string, label?: string): Record<string, number> {
  const out: Record<string, number> = {};
  const re = new RegExp(`^${name}(?:\\{${label ?? '[a-z]+'}="([^"]+)"\\})? ([0-9.e+]+)$`, 'gm');
  for (const m of text.matchAll(re)) out[m[1] ?? ''] = Number(m[2]);
  return out;
}

async function until(fn: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`soak: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function run(): Promise<Section> {
  const gitlab = await startGitlabStandin({ token: TOKEN, bot: BOT });
  gitlab.addUser(ALICE);
  const model = await startModelStandin();
  model.respond(instantAnswer);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-soak-'));
  const bot = await startBotProcess({
    gitlab,
    model,
    dataDir,
    env: {
      LOG_LEVEL: 'info', // bot-process waits for the 'listening' line
      MAX_CONCURRENT_SESSIONS: '2',
      RETENTION_CLOSED_MR_DAYS: days(2),
      RETENTION_RECORD_DAYS: days(4),
      RETENTION_ORPHAN_DAYS: days(2),
      RETENTION_FAILED_JOB_DAYS: days(2),
      RETENTION_DELIVERY_DAYS: days(2),
      RETENTION_SWEEP_MINUTES: String(0.5 / 60),
    },
  });
  const samples: Sample[] = [];
  try {
    const project = await gitlab.createProject('soak/app', { 'README.md': '# soak\n', 'src/math.js': 'export function add(a, b) {\n  return a + b;\n}\n' });
    let opened = 0;
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      const mrs = [];
      for (let i = 0; i < MRS; i++) {
        const n = ++opened;
        await gitlab.commit(project, `soak-${n}`, { 'src/math.js': `export function add(a, b) {\n  return a + b;\n}\n\nexport function div(a, b) {\n  return a / b;\n}\n// ${n}\n` }, `change ${n}`);
        const mr = await gitlab.createMr(project, { sourceBranch: `soak-${n}`, title: `Change ${n}`, authorId: ALICE.id });
        await bot.send(gitlab.mrHook(project, mr.iid, 'open'));
        mrs.push(mr);
      }
      for (const mr of mrs) {
        await until(() => gitlab.notes(project, mr.iid).some((x) => readMarker(x.body)?.kind === 'summary'), 120_000, `review of !${mr.iid}`);
        const thread = gitlab.discussions(project, mr.iid).find((d) => readMarker(d.notes[0]?.body ?? '')?.kind === 'finding');
        if (!thread) throw new Error(`soak: no finding thread on !${mr.iid}`);
        const q = gitlab.addNote(project, mr.iid, ALICE.id, '@review-bot why does this matter?', { discussionId: thread.id });
        await bot.send(gitlab.noteHook(project, mr.iid, q.note, q.discussion));
      }
      for (const mr of mrs) {
        await until(() => gitlab.discussions(project, mr.iid).some((d) => d.notes.length > 1 && d.notes.at(-1)!.author.id === BOT.id), 120_000, `reply on !${mr.iid}`);
      }
      for (const mr of mrs) gitlab.setMrState(project, mr.iid, 'merged');
      // Retention purges the merged MRs once they have been closed and quiet for the window: no thread is left.
      await until(async () => (gauge(await metrics(bot), 'mr_reviewer_store_records', 'kind').threads ?? -1) === 0, 60_000, 'retention to purge the merged MRs');
      const text = await metrics(bot);
      samples.push({
        cycle,
        mrs: opened,
        disk: gauge(text, 'mr_reviewer_data_dir_bytes', 'part'),
        records: gauge(text, 'mr_reviewer_store_records', 'kind'),
        rss: gauge(text, 'process_resident_memory_bytes')[''] ?? NaN,
      });
      process.stderr.write(`[soak ${cycle}/${CYCLES}] `);
    }
  } finally {
    await bot.term();
    await model.close();
    await gitlab.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  return section(samples);
}

function section(samples: Sample[]): Section {
  const total = (s: Sample) => Object.values(s.disk).reduce((a, b) => a + b, 0);
  const rows: Row[] = samples.map((s) => ({
    metric: `cycle ${s.cycle} (${s.mrs} MRs)`,
    value: `disk ${bytes(total(s))} = work ${bytes(s.disk.work ?? 0)} + transcripts ${bytes(s.disk.transcripts ?? 0)} + state ${bytes(s.disk.state ?? 0)} + mirrors ${bytes(s.disk.repos ?? 0)}; store ${s.records.mrs ?? 0} MRs / ${s.records.threads ?? 0} threads / ${s.records.failures ?? 0} failures; RSS ${bytes(s.rss)}`,
  }));
  // Flat: the second half grows no more than the first half's level allows (mirrors grow with the repository's own
  // history, one commit per MR here, which retention does not and should not delete).
  const half = samples.slice(Math.floor(samples.length / 2));
  const firstHalf = samples.slice(1, Math.floor(samples.length / 2));
  const max = (xs: number[]) => Math.max(...xs);
  const nonMirror = (s: Sample) => total(s) - (s.disk.repos ?? 0);
  if (firstHalf.length && half.length) {
    const diskFlat = max(half.map(nonMirror)) <= 1.25 * max(firstHalf.map(nonMirror));
    const storeFlat = max(half.map((s) => s.records.mrs ?? 0)) <= max(firstHalf.map((s) => s.records.mrs ?? 0)) + MRS;
    const rssFlat = max(half.map((s) => s.rss)) <= 1.25 * max(firstHalf.map((s) => s.rss));
    rows.push({ metric: 'disk without mirrors, 2nd half vs 1st', value: `${bytes(max(half.map(nonMirror)))} vs ${bytes(max(firstHalf.map(nonMirror)))}`, target: '≤ 1.25×', met: diskFlat });
    rows.push({ metric: 'MR records, 2nd half vs 1st', value: `${max(half.map((s) => s.records.mrs ?? 0))} vs ${max(firstHalf.map((s) => s.records.mrs ?? 0))}`, target: `≤ +${MRS}`, met: storeFlat });
    rows.push({ metric: 'RSS, 2nd half vs 1st', value: `${bytes(max(half.map((s) => s.rss)))} vs ${bytes(max(firstHalf.map((s) => s.rss)))}`, target: '≤ 1.25×', met: rssFlat });
  }
  return {
    id: 'soak',
    title: 'Soak: retention cycles',
    rows,
    notes: [`${CYCLES} cycles of ${MRS} MRs (review, one thread answered, merged); retention windows of seconds (1 s = 1 day); mirrors grow with the repository's history and are not retention's to delete`],
  };
}
