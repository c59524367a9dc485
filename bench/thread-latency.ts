// 3. Thread reply latency: a human's note → the bot's reply posted, for the first reply of a thread (a fork of the
// trunk) and a follow-up (a resume of that fork), each against the bare CLI call doing the same thing with the same
// flags, prompt and cwd.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { transcriptPath } from '../src/claude/paths.js';
import { readMarker } from '../src/gitlab/markers.js';
import { ALICE } from '../standins/harness.js';
import { bareClaude, benchHarness, REPLY_ANSWER, turnKind, makeMr, median, ms, ratio, reviewViaWebhook, RUNS, sourceFile, waitFor, type BenchHarness, type Section } from './support.js';

const TARGET = 1.5;

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

export async function run(): Promise<Section> {
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
      const findings = Array.from({ length: runs }, (_, i) => ({
        file: 'src/feature-0.js', side: 'new', start_line: 3 * i + 1, end_line: 3 * i + 1, anchor_text: lines[3 * i]!, severity: 'major',
        category: 'bug', confidence: 95, pre_existing: false, title: `Overflow, case ${i}`, body: `Case ${i}: x can overflow.`, evidence: [], suggestion: null,
      }));
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
