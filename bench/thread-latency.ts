// 3. Thread reply latency: a human's note → the bot's reply posted, for the first reply of a thread (a fork of the
// trunk) and a follow-up (a resume of that fork), each against the bare CLI call doing the same thing with the same
// flags, prompt and cwd.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { transcriptPath } from '../src/claude/paths.js';
import { readMarker } from '../src/gitlab/markers.js';
import { ALICE, finding } from '../standins/harness.js';
import { bareClaude, benchHarness, REPLY_ANSWER, turnKind, makeMr, median, ms, percentile, quick, ratio, reviewViaWebhook, RUNS, sourceFile, waitFor, type BenchHarness, type Row, type Section } from './support.js';

const TARGET = 1.5;
/** threads answering at once (the 10) */
const AT_ONCE = quick(10, 3);
/** bot time per reply (webhook → posted note, less its CLI call) at p50 */
const BOT_TIME_TARGET_MS = 150;

/** A human replies in `discussionId` (or opens a thread); resolves with webhook → reply posted (ms) once the queue is idle. */
async function replyLatency(h: BenchHarness, project: { id: number }, iid: number, discussionId: string | undefined, body: string): Promise<number> {
  const { note, discussion } = h.gitlab.addNote(project as never, iid, ALICE.id, body, discussionId ? { discussionId } : { thread: true });
  const payload = h.gitlab.noteHook(project as never, iid, note, discussion);
  const t0 = performance.now();
  const res = await h.send(payload);
  if (res.status !== 200) throw new Error(`note hook answered ${res.status}`);
  await waitFor(() => h.timeline.since(t0, 'gitlab.reply').some((s) => Number.isFinite(s.end)), 60_000, 'the reply');
  const end = h.timeline.since(t0, 'gitlab.reply')[0]!.end;
  await h.bot.queue.drained();
  return end - t0;
}

interface ReplyTiming {
  totalMs: number;
  cliMs: number;
  /** webhook → CLI spawn (intake, queue, GitLab reads, access and guidance, the fork's transcript), CLI exit → posted */
  beforeMs: number;
  afterMs: number;
}

/**
 * Humans open `targets.length` threads at once (a mention each, in the MRs given), all hooks sent together; for each,
 * webhook → the bot's reply posted, and the CLI call that answered it (found by the question's tag in its prompt).
 */
async function atOnce(h: BenchHarness, targets: { project: { id: number }; iid: number }[], tag: string): Promise<ReplyTiming[]> {
  const mention = `@${h.bot.deps.bot.username}`;
  const opened = targets.map((t, k) => {
    const { note, discussion } = h.gitlab.addNote(t.project as never, t.iid, ALICE.id, `${mention} is div safe? (${tag}-${k})`, { thread: true });
    return { ...t, k, discussionId: discussion.id, payload: h.gitlab.noteHook(t.project as never, t.iid, note, discussion) };
  });
  const t0 = performance.now();
  const sent = await Promise.all(
    opened.map(async (o) => {
      const at = performance.now();
      const res = await h.send(o.payload);
      if (res.status !== 200) throw new Error(`note hook answered ${res.status}`);
      return at;
    }),
  );
  const replyOf = (did: string) => h.timeline.since(t0, 'gitlab.reply').find((s) => s.args[2] === did && Number.isFinite(s.end));
  await waitFor(() => opened.every((o) => replyOf(o.discussionId)), 180_000, `${opened.length} replies`);
  await h.bot.queue.drained();
  const cliCalls = h.timeline.since(t0, /^sessions\.(start|fork|resume)$/);
  return opened.map((o, i) => {
    const cli = cliCalls.find((s) => s.args.some((a) => typeof a === 'string' && a.includes(`(${tag}-${o.k})`)));
    if (!cli) throw new Error(`no CLI call answered ${tag}-${o.k}`);
    const posted = replyOf(o.discussionId)!.end;
    return { totalMs: posted - sent[i]!, cliMs: cli.end - cli.start, beforeMs: cli.start - sent[i]!, afterMs: posted - cli.end };
  });
}

function atOnceRows(label: string, xs: ReplyTiming[]): Row[] {
  const bot = xs.map((x) => x.totalMs - x.cliMs);
  const p50 = percentile(bot, 50);
  return [
    {
      metric: `${label}: bot time per reply (webhook → posted note, less its CLI call), p50`,
      value: ms(p50),
      target: `≤ ${BOT_TIME_TARGET_MS} ms`,
      met: p50 <= BOT_TIME_TARGET_MS,
      note: `webhook → reply p50 ${ms(percentile(xs.map((x) => x.totalMs), 50))}, its CLI call ${ms(percentile(xs.map((x) => x.cliMs), 50))}`,
    },
    { metric: '· p99', value: ms(percentile(bot, 99)), note: `webhook → reply p99 ${ms(percentile(xs.map((x) => x.totalMs), 99))}` },
    { metric: '· p50 before the CLI (webhook → spawn) / after it (exit → posted)', value: `${ms(percentile(xs.map((x) => x.beforeMs), 50))} / ${ms(percentile(xs.map((x) => x.afterMs), 50))}` },
  ];
}

/** Bot time with AT_ONCE threads answering at once, on one MR and on AT_ONCE MRs. */
async function concurrentReplies(): Promise<Row[]> {
  // Every reply gets a CLI slot of its own: the figure is the bot's time, not a wait for a slot.
  const h = await benchHarness({ MAX_CONCURRENT_SESSIONS: String(AT_ONCE), QUESTIONS_PER_USER_PER_DAY: '10000' });
  try {
    const mrs: Awaited<ReturnType<typeof makeMr>>[] = [];
    for (let i = 0; i < AT_ONCE; i++) mrs.push(await makeMr(h, { path: `bench/at-once-${i}` }));
    // The trunks first (reviews, not measured), then a warm-up question on the first MR.
    await Promise.all(mrs.map(({ project, mr }) => reviewViaWebhook(h, project, mr.iid)));
    await atOnce(h, [{ project: mrs[0]!.project, iid: mrs[0]!.mr.iid }], 'warm');
    const oneMr = await atOnce(h, Array.from({ length: AT_ONCE }, () => ({ project: mrs[0]!.project, iid: mrs[0]!.mr.iid })), 'one');
    const tenMrs = await atOnce(h, mrs.map(({ project, mr }) => ({ project, iid: mr.iid })), 'many');
    return [...atOnceRows(`${AT_ONCE} threads at once on one MR`, oneMr), ...atOnceRows(`${AT_ONCE} threads at once on ${AT_ONCE} MRs`, tenMrs)];
  } finally {
    await h.close();
  }
}

export async function run(): Promise<Section> {
  const sequential = await oneAtATime();
  return { ...sequential, rows: [...sequential.rows, ...(await concurrentReplies())] };
}

async function oneAtATime(): Promise<Section> {
  const h = await benchHarness();
  try {
    // One reviewed MR with a finding per run: each run's first reply forks the same trunk, like separate threads do.
    // The review schema allows 5 findings, hence at most 5 runs; the warm-up thread is one a human opens.
    const runs = Math.min(RUNS, 5);
    const { project, mr } = await makeMr(h, { path: 'bench/threads' });
    h.model.respond((req) => {
      if (turnKind(req) !== 'review') return undefined;
      // Distinct lines: findings on one line would share a fingerprint and be posted once.
      const lines = sourceFile('feature-0', 40).split('\n');
      // Each with evidence quoting its line: a finding without it is dropped before posting.
      const findings = Array.from({ length: runs }, (_, i) =>
        finding({ file: 'src/feature-0.js', start_line: 3 * i + 1, anchor_text: lines[3 * i]!, title: `Overflow, case ${i}`, body: `Case ${i}: x can overflow.` }));
      return { structured: { summary: 'Adds div.', risk: 'medium', findings } };
    });
    await reviewViaWebhook(h, project, mr.iid);
    h.model.respond((req) => (turnKind(req) === 'reply' ? REPLY_ANSWER : undefined));
    const threads = h.gitlab.discussions(project, mr.iid).filter((d) => readMarker(d.notes[0]?.body ?? '')?.kind === 'finding');
    if (threads.length < runs) throw new Error(`expected ${runs} finding threads, got ${threads.length}`);

    // Warm-up, not counted: a thread a human opens with a mention.
    await replyLatency(h, project, mr.iid, undefined, `@${h.bot.deps.bot.username} is div safe?`);

    const fork: number[] = [];
    const resume: number[] = [];
    const bareFork: number[] = [];
    const bareResume: number[] = [];
    const bareNew: number[] = [];
    const claudeDir = path.join(h.config.dataDir, 'claude');
    for (let i = 0; i < runs; i++) {
      const did = threads[i]!.id;
      fork.push(await replyLatency(h, project, mr.iid, did, `Why is case ${i} a bug?`));
      const f = h.calls.at(-1)!;
      if (f.kind !== 'fork') throw new Error(`expected a fork, the bot made a ${f.kind}`);
      // The bare fork: the same trunk, prompt and flags, into a session of its own.
      const bareId = randomUUID();
      const trunk = transcriptPath(claudeDir, f.cwd, f.fromId!);
      bareFork.push(await bareClaude(h, { ...f, mode: { kind: 'fork', transcript: trunk, sessionId: bareId } }));
      // For scale: the same prompt and flags as a new session, the floor of any CLI call.
      bareNew.push(await bareClaude(h, { ...f, mode: { kind: 'new', sessionId: randomUUID() } }));

      resume.push(await replyLatency(h, project, mr.iid, did, `But the caller checks b in case ${i}.`));
      const r = h.calls.at(-1)!;
      if (r.kind !== 'resume') throw new Error(`expected a resume, the bot made a ${r.kind}`);
      bareResume.push(await bareClaude(h, { ...r, mode: { kind: 'resume', transcript: transcriptPath(claudeDir, r.cwd, bareId) } }));
    }
    const row = (metric: string, xs: number[], bare: number[], kind: string) => {
      const q = median(xs) / median(bare);
      const vsNew = median(xs) / median(bareNew);
      return { metric, value: ms(median(xs)), baseline: `${ms(median(bare))} bare ${kind}`, ratio: ratio(q), target: `≤ ${TARGET}×`, met: q <= TARGET, note: `${ratio(vsNew)} a bare new session` };
    };
    return {
      id: '3',
      title: 'Thread reply latency',
      rows: [row('first reply (fork), note → reply', fork, bareFork, 'fork'), row('follow-up (resume), note → reply', resume, bareResume, 'resume')],
    };
  } finally {
    await h.close();
  }
}
