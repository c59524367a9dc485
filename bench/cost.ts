// 9. Cost per review: what the CLI itself reports (usage and total_cost_usd in its result) for the demo's sample MR
// (demo/sample.ts: a review, its verification pass, a question in a finding's thread and a follow-up), so a team
// can estimate spend. The model stand-in answers with the demo's scripted model and meters each request as the
// Messages API would bill it: about 4 bytes per token, and a prompt cache that serves a request's longest prefix
// that an earlier request wrote at one of its cache_control breakpoints (context-reuse.ts models the same cache).
// The CLI prices that usage with its own table for the model it was asked for.
import { readMarker } from '../src/gitlab/markers.js';
import type { ClaudeResult } from '../src/claude/result.js';
import { ALICE } from '../standins/harness.js';
import type { RecordedRequest, Reply, Usage } from '../standins/model.js';
import { BASE, FEATURE, FOLLOW_UP, QUESTION, scripted } from '../demo/sample.js';
import { blocks, cachedBytes } from './context-reuse.js';
import { benchHarness, pct, reviewViaWebhook, waitFor, type BenchHarness, type Row, type Section } from './support.js';

const BYTES_PER_TOKEN = 4;
const tokens = (bytes: number) => Math.ceil(bytes / BYTES_PER_TOKEN);

/** Usage as the API would report it for `req`, given every earlier request's cache writes (kept in `seen`). */
export function metered(seen: ReturnType<typeof blocks>[], req: RecordedRequest, reply: Reply): Usage {
  const bs = blocks(req.body);
  const size = (n: number) => bs.slice(0, n).reduce((a, b) => a + b.size, 0);
  const total = size(bs.length);
  const cached = cachedBytes(bs, seen);
  const lastBreakpoint = bs.map((b) => b.breakpoint).lastIndexOf(true);
  const written = Math.max(0, size(lastBreakpoint + 1) - cached);
  seen.push(bs);
  return {
    input_tokens: tokens(total - cached - written),
    cache_creation_input_tokens: tokens(written),
    cache_read_input_tokens: tokens(cached),
    output_tokens: tokens(Buffer.byteLength(JSON.stringify(reply))),
  };
}

interface Turn {
  what: string;
  result: ClaudeResult;
}

/** Every CLI call's result, named by what it was for. */
function recordResults(h: BenchHarness): Turn[] {
  const turns: Turn[] = [];
  const s = h.bot.deps.sessions as unknown as Record<string, (...a: any[]) => Promise<ClaudeResult>>;
  for (const [method, promptAt] of [['start', 2], ['fork', 3], ['resume', 2]] as const) {
    const orig = s[method]!;
    s[method] = async (...args: any[]) => {
      const result = await orig(...args);
      const prompt = String(args[promptAt]);
      const what = method === 'fork' ? 'question (fork of the review)' : method === 'resume' ? 'follow-up (resume)' : prompt.includes('Verify these candidate findings') ? 'verification pass' : 'review';
      turns.push({ what, result });
      return result;
    };
  }
  return turns;
}

const sumOf = (ts: Turn[], f: (u: ClaudeResult['usage']) => number | undefined) => ts.reduce((a, t) => a + (f(t.result.usage) ?? 0), 0);

function row(metric: string, ts: Turn[]): Row {
  const input = sumOf(ts, (u) => u.input_tokens);
  const write = sumOf(ts, (u) => u.cache_creation_input_tokens);
  const read = sumOf(ts, (u) => u.cache_read_input_tokens);
  const output = sumOf(ts, (u) => u.output_tokens);
  const usd = ts.reduce((a, t) => a + t.result.costUsd, 0);
  return {
    metric,
    value: `$${usd.toFixed(4)}`,
    note: `input ${input} + cache write ${write} + cache read ${read} tokens (${pct(read / Math.max(1, input + write + read))} from the prompt cache), output ${output}`,
  };
}

export async function run(): Promise<Section> {
  // Verification on, as in production: it is part of what a review costs.
  const h = await benchHarness({ VERIFY_FINDINGS: 'true' });
  try {
    const seen: ReturnType<typeof blocks>[] = [];
    h.model.respond(scripted);
    h.model.meter((req, reply) => metered(seen, req, reply));
    const turns = recordResults(h);
    const project = await h.gitlab.createProject('bench/shop', { 'README.md': '# shop\n\nA tiny shopping cart.\n', 'src/cart.js': BASE });
    await h.gitlab.commit(project, 'cart-helpers', { 'src/cart.js': FEATURE }, 'Add cart helpers');
    const mr = await h.gitlab.createMr(project, { sourceBranch: 'cart-helpers', title: 'Add cart helpers', description: 'Average price, discount codes and a "most expensive" box.', authorId: ALICE.id });
    await reviewViaWebhook(h, project, mr.iid);
    const review = turns.splice(0);
    // The demo's two questions, in the first finding's thread.
    const thread = h.gitlab.discussions(project, mr.iid).find((d) => readMarker(d.notes[0]?.body ?? '')?.kind === 'finding');
    if (!thread) throw new Error('the review posted no finding thread');
    const asked: Turn[] = [];
    for (const q of [QUESTION, FOLLOW_UP]) {
      const { note, discussion } = h.gitlab.addNote(project, mr.iid, ALICE.id, q, { discussionId: thread.id });
      const t0 = performance.now();
      await h.send(h.gitlab.noteHook(project, mr.iid, note, discussion));
      await waitFor(() => h.timeline.since(t0, 'gitlab.reply').some((s) => Number.isFinite(s.end)), 120_000, 'the reply');
      await h.bot.queue.drained();
      asked.push(...turns.splice(0));
    }
    const model = review[0]?.result.model ?? 'unknown';
    return {
      id: '9',
      title: 'Cost per review',
      rows: [
        row(`demo MR: review with its verification pass (${review.length} CLI calls)`, review),
        ...review.map((t) => row(`· ${t.what}`, [t])),
        ...asked.map((t) => row(`thread: ${t.what}`, [t])),
        row('review and a two-turn thread, in all', [...review, ...asked]),
      ],
      notes: [
        `the CLI's own total_cost_usd, priced for ${model}; tokens metered by the stand-in at ${BYTES_PER_TOKEN} bytes per token with a prefix prompt cache, so a real model's counts differ by its tokenizer and by how much it explores the checkout`,
      ],
    };
  } finally {
    await h.close();
  }
}
