// 4. Warm repository: a project's second MR must reuse the project's mirror, fetching only what is new. Each run
// is a fresh project with two MRs, reviewed through the webhook one after the other; the GitLab stand-in records
// every git request with the bytes it sent and the `have` lines the client offered.
import type { GitRequest } from '../standins/gitlab.js';
import { benchHarness, bytes, makeMr, median, ms, ratio, reviewViaWebhook, RUNS, type BenchHarness, type Section } from './support.js';

/** A project big enough for a clone to cost something: 300 files of 60 functions, about 1 MB of source. */
const REPO = { files: 300, linesPerFile: 60 };

interface Fetch {
  fetchMs: number;
  prepareMs: number;
  bytes: number;
  haves: number;
  requests: number;
}

async function reviewAndMeasure(h: BenchHarness, project: { id: number; path: string }, iid: number): Promise<Fetch> {
  const n = h.gitlab.gitRequests.length;
  const { t0 } = await reviewViaWebhook(h, project, iid);
  const fetch = h.timeline.since(t0, 'workspaces.fetch')[0];
  const worktree = h.timeline.since(t0, 'workspaces.worktree')[0];
  if (!worktree || !fetch) throw new Error('the review did not prepare a workspace');
  const git = h.gitlab.gitRequests.slice(n).filter((r: GitRequest) => r.path.startsWith(`/${project.path}.git/`));
  return { fetchMs: fetch.end - fetch.start, prepareMs: worktree.end - fetch.start, bytes: git.reduce((a, r) => a + r.bytesOut, 0), haves: git.reduce((a, r) => a + r.haves, 0), requests: git.length };
}

export async function run(): Promise<Section> {
  const h = await benchHarness();
  try {
    const cold: Fetch[] = [];
    const warm: Fetch[] = [];
    // Warm-up (git, http-backend and the CLI from disk), not counted.
    const w = await makeMr(h, { path: 'bench/warm-0', files: 5 });
    await reviewViaWebhook(h, w.project, w.mr.iid);
    for (let i = 1; i <= RUNS; i++) {
      const path = `bench/warm-${i}`;
      const first = await makeMr(h, { path, ...REPO, branch: 'feature-a' });
      const second = await makeMr(h, { path, ...REPO, project: first.project, branch: 'feature-b' });
      cold.push(await reviewAndMeasure(h, first.project, first.mr.iid));
      warm.push(await reviewAndMeasure(h, first.project, second.mr.iid));
    }
    const m = (xs: Fetch[], f: (x: Fetch) => number) => median(xs.map(f));
    const reclones = warm.filter((x, i) => x.haves === 0 || x.bytes > cold[i]!.bytes / 2).length;
    return {
      id: '4',
      title: 'Warm repository',
      rows: [
        { metric: `fetch, 2nd MR vs 1st (${REPO.files} files)`, value: ms(m(warm, (x) => x.fetchMs)), baseline: `${ms(m(cold, (x) => x.fetchMs))} 1st MR`, ratio: ratio(m(warm, (x) => x.fetchMs) / m(cold, (x) => x.fetchMs)) },
        { metric: 'fetch + new worktree, 2nd MR vs 1st', note: 'each MR checks out its own worktree', value: ms(m(warm, (x) => x.prepareMs)), baseline: `${ms(m(cold, (x) => x.prepareMs))} 1st MR`, ratio: ratio(m(warm, (x) => x.prepareMs) / m(cold, (x) => x.prepareMs)) },
        { metric: 'bytes fetched, 2nd MR vs 1st', value: bytes(m(warm, (x) => x.bytes)), baseline: `${bytes(m(cold, (x) => x.bytes))} 1st MR`, ratio: ratio(m(warm, (x) => x.bytes) / m(cold, (x) => x.bytes)) },
        { metric: '2nd MRs that cloned again', value: `${reclones} of ${warm.length}`, note: `git requests ${m(warm, (x) => x.requests)} vs ${m(cold, (x) => x.requests)}, haves offered ${m(warm, (x) => x.haves)}`, target: '0', met: reclones === 0 },
      ],
    };
  } finally {
    await h.close();
  }
}
