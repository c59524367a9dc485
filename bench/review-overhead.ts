// 2. Bot overhead per review: webhook → last posted comment, with the model stand-in answering instantly, against one
// bare `claude -p` call with the same flags, prompt, cwd and stand-in. Everything outside the CLI is the bot's cost.
import { randomUUID } from 'node:crypto';
import { benchHarness, bareClaude, makeMr, median, ms, pct, POSTS, ratio, reviewViaWebhook, RUNS, type BenchHarness, type Section } from './support.js';

export interface ReviewTiming {
  totalMs: number;
  ackMs: number;
  /** webhook sent → first GitLab read of the job (queue pickup) */
  pickupMs: number;
  fetchMs: number;
  /** prepare less its fetch: the worktree checkout */
  checkoutMs: number;
  /** job start → CLI spawn, less the fetch/worktree time: GitLab reads, repo config and guidance, store */
  otherBeforeMs: number;
  cliMs: number;
  postingMs: number;
}

/** Split one review's timeline (spans since `t0`) into phases. */
export function reviewTiming(h: BenchHarness, t0: number, ackMs: number): ReviewTiming {
  const spans = h.timeline.since(t0);
  const cli = spans.find((s) => s.name === 'sessions.start');
  const prepare = spans.find((s) => s.name === 'workspaces.prepare');
  const fetch = spans.find((s) => s.name === 'workspaces.fetch');
  const posts = spans.filter((s) => POSTS.test(s.name));
  const first = spans.find((s) => s.name.startsWith('gitlab.'));
  if (!cli || !prepare || !fetch || !posts.length || !first) throw new Error('review did not run the expected steps');
  const end = Math.max(...posts.map((s) => s.end));
  const prepareMs = prepare.end - prepare.start;
  return {
    totalMs: end - t0,
    ackMs,
    pickupMs: first.start - t0,
    fetchMs: fetch.end - fetch.start,
    checkoutMs: prepareMs - (fetch.end - fetch.start),
    otherBeforeMs: cli.start - first.start - prepareMs,
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
    const outsideNoGit = median(timings.map((t) => (t.totalMs - t.cliMs - t.fetchMs - t.checkoutMs) / t.totalMs));
    return {
      id: '2',
      title: 'Review overhead',
      rows: [
        { metric: 'webhook → last comment', value: ms(total), baseline: `${ms(bareMs)} bare CLI`, ratio: ratio(total / bareMs) },
        { metric: 'share of the review outside the CLI', value: pct(outside), target: '≤ 10%', met: outside <= 0.1 },
        { metric: '· webhook acknowledged', value: ms(m((t) => t.ackMs)) },
        { metric: '· queue pickup (webhook → first GitLab call)', value: ms(m((t) => t.pickupMs)) },
        { metric: '· git fetch of the MR head (warm mirror)', value: ms(m((t) => t.fetchMs)) },
        { metric: '· worktree checkout', value: ms(m((t) => t.checkoutMs)) },
        { metric: '· MR, diff, repo config, guidance, store', value: ms(m((t) => t.otherBeforeMs)) },
        { metric: '· CLI in the bot', value: ms(m((t) => t.cliMs)), baseline: ms(bareMs), ratio: ratio(m((t) => t.cliMs) / bareMs) },
        { metric: '· posting (CLI exit → last comment)', value: ms(m((t) => t.postingMs)) },
        { metric: 'share outside the CLI, less fetch + checkout', value: pct(outsideNoGit), note: 'queue, GitLab API, store, posting' },
      ],
    };
  } finally {
    await h.close();
  }
}
