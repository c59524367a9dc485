// 2. Bot overhead per review: webhook → last posted comment, with the model stand-in answering instantly, against one
// bare `claude -p` call with the same flags, prompt, cwd and stand-in. Everything outside the CLI is the bot's cost.
import { randomUUID } from 'node:crypto';
import { benchHarness, bareClaude, makeMr, median, ms, pct, POSTS, ratio, reviewViaWebhook, RUNS, type BenchHarness, type Section, type Span } from './support.js';

export interface ReviewTiming {
  totalMs: number;
  ackMs: number;
  /** webhook sent → first GitLab read of the job (queue pickup) */
  pickupMs: number;
  /** the job's reads before the MR is known: MR and the store's record */
  mrMs: number;
  /** git fetch of the MR head, and the API's diff read running beside it */
  fetchMs: number;
  diffsMs: number;
  /** after the fetch, together: checkout, the target branch's rules, git's list of changed files */
  worktreeMs: number;
  guidanceMs: number;
  changedMs: number;
  /** first GitLab call → CLI spawn, all of it (the steps above overlap) */
  beforeCliMs: number;
  cliMs: number;
  postingMs: number;
}

const span = (spans: Span[], name: string) => spans.find((s) => s.name === name);
const took = (s?: Span) => (s ? s.end - s.start : 0);

/** Split one review's timeline (spans since `t0`) into steps. */
export function reviewTiming(h: BenchHarness, t0: number, ackMs: number): ReviewTiming {
  const spans = h.timeline.since(t0);
  const cli = span(spans, 'sessions.start');
  const fetch = span(spans, 'workspaces.fetch');
  const worktree = span(spans, 'workspaces.worktree');
  const posts = spans.filter((s) => POSTS.test(s.name));
  const first = spans.find((s) => s.name.startsWith('gitlab.'));
  if (!cli || !fetch || !worktree || !posts.length || !first) throw new Error('review did not run the expected steps');
  const end = Math.max(...posts.map((s) => s.end));
  return {
    totalMs: end - t0,
    ackMs,
    pickupMs: first.start - t0,
    mrMs: fetch.start - first.start,
    fetchMs: took(fetch),
    diffsMs: took(span(spans, 'gitlab.diffs')),
    worktreeMs: took(worktree),
    guidanceMs: took(span(spans, 'workspaces.readManyAt')),
    changedMs: took(span(spans, 'workspaces.changedPaths')),
    beforeCliMs: cli.start - first.start,
    cliMs: cli.end - cli.start,
    postingMs: end - cli.end,
  };
}

export async function run(): Promise<Section> {
  const h = await benchHarness();
  try {
    const path = 'bench/overhead';
    // Warm-up, not counted: the first review clones the project (row 4 measures that) and loads the CLI from disk.
    const first = await makeMr(h, { path });
    await reviewViaWebhook(h, first.project, first.mr.iid);
    const warm = h.calls.at(-1)!;
    await bareClaude(h, { ...warm, mode: { kind: 'new', sessionId: randomUUID() } });

    const timings: ReviewTiming[] = [];
    const bare: number[] = [];
    for (let i = 1; i <= RUNS; i++) {
      // A new MR of the same project each time: a head is reviewed only once.
      const { mr } = await makeMr(h, { path, project: first.project, branch: `feature-${i}` });
      const { t0, ackMs } = await reviewViaWebhook(h, first.project, mr.iid);
      timings.push(reviewTiming(h, t0, ackMs));
      // The same prompt, flags and cwd, straight to the CLI: interleaved, so drift hits both alike.
      const call = h.calls.at(-1)!;
      bare.push(await bareClaude(h, { ...call, mode: { kind: 'new', sessionId: randomUUID() } }));
    }

    const m = (f: (t: ReviewTiming) => number) => median(timings.map(f));
    const total = m((t) => t.totalMs);
    const bareMs = median(bare);
    const outside = median(timings.map((t) => (t.totalMs - t.cliMs) / t.totalMs));
    const git = (t: ReviewTiming) => t.fetchMs + Math.max(t.worktreeMs, t.guidanceMs, t.changedMs);
    const outsideNoGit = median(timings.map((t) => (t.totalMs - t.cliMs - git(t)) / t.totalMs));
    return {
      id: '2',
      title: 'Review overhead',
      rows: [
        { metric: 'webhook → last comment', value: ms(total), baseline: `${ms(bareMs)} bare CLI`, ratio: ratio(total / bareMs) },
        { metric: 'share of the review outside the CLI', value: pct(outside), target: '≤ 10%', met: outside <= 0.1 },
        { metric: '· webhook acknowledged', value: ms(m((t) => t.ackMs)) },
        { metric: '· queue pickup (webhook → first GitLab call)', value: ms(m((t) => t.pickupMs)) },
        { metric: '· MR and its store record', value: ms(m((t) => t.mrMs)) },
        { metric: '· git fetch of the MR head (warm mirror)', value: ms(m((t) => t.fetchMs)), note: `the diff from the API meanwhile: ${ms(m((t) => t.diffsMs))}` },
        { metric: '· worktree updated to the head', value: ms(m((t) => t.worktreeMs)), note: `meanwhile target-branch rules ${ms(m((t) => t.guidanceMs))}, changed paths ${ms(m((t) => t.changedMs))}` },
        { metric: '· first GitLab call → CLI spawn, all of it', value: ms(m((t) => t.beforeCliMs)) },
        { metric: '· CLI in the bot', value: ms(m((t) => t.cliMs)), baseline: ms(bareMs), ratio: ratio(m((t) => t.cliMs) / bareMs) },
        { metric: '· posting (CLI exit → last comment)', value: ms(m((t) => t.postingMs)) },
        { metric: 'share outside the CLI, less git', value: pct(outsideNoGit), note: 'queue, GitLab API, store, posting' },
      ],
    };
  } finally {
    await h.close();
  }
}
