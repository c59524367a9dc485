// 7. Context reuse: for a thread reply, how much of the model request is the trunk's earlier conversation, and how
// much of it a provider could serve from its prompt cache, against a bot that re-sends the diff to a fresh session
// for each reply. Computed from the request bodies the model stand-in recorded.
//
// The prompt cache matches exact prefixes, in the order tools → system → messages, and stores them at the request's
// cache_control breakpoints: a request hits when it starts with an earlier request's prefix up to one of that
// request's breakpoints. (The API's 20-block lookback and minimum cacheable length are not modelled.)
import { randomUUID } from 'node:crypto';
import { readMarker } from '../src/gitlab/markers.js';
import { ALICE } from '../standins/harness.js';
import type { RecordedRequest } from '../standins/model.js';
import { bareClaude, benchHarness, bytes, makeMr, pct, ratio, reviewViaWebhook, waitFor, type BenchHarness, type Row, type Section } from './support.js';

interface Block {
  /** the block without its cache_control marker, with its place (tool, system, or message role) */
  key: string;
  size: number;
  breakpoint: boolean;
  part: 'tools' | 'system' | 'messages';
  message?: number;
}

/** A request as the cache sees it: tools, then system blocks, then every message's content blocks. */
export function blocks(body: any): Block[] {
  const out: Block[] = [];
  const add = (part: Block['part'], x: any, prefix = '', message?: number) => {
    const { cache_control, ...rest } = typeof x === 'string' ? { type: 'text', text: x } : x;
    const key = prefix + JSON.stringify(rest);
    out.push({ key, size: Buffer.byteLength(key), breakpoint: !!cache_control, part, message });
  };
  for (const t of body.tools ?? []) add('tools', t);
  for (const s of typeof body.system === 'string' ? [body.system] : body.system ?? []) add('system', s);
  (body.messages ?? []).forEach((m: any, i: number) => {
    for (const c of typeof m.content === 'string' ? [m.content] : m.content ?? []) add('messages', c, `${m.role}:`, i);
  });
  return out;
}

const size = (bs: Block[]) => bs.reduce((a, b) => a + b.size, 0);

/** Bytes of `req` a provider could serve from cache, given the earlier requests' cache writes. */
export function cachedBytes(req: Block[], earlier: Block[][]): number {
  let best = 0;
  for (const e of earlier) {
    let same = 0;
    while (same < Math.min(req.length, e.length) && req[same]!.key === e[same]!.key) same++;
    for (let i = 0; i < same; i++) if (e[i]!.breakpoint) best = Math.max(best, size(req.slice(0, i + 1)));
  }
  return best;
}

/** The request split: tools and system, the conversation before the newest user turn, and that turn. */
function parts(req: Block[], body: any) {
  const lastUser = (body.messages as any[]).map((m) => m.role).lastIndexOf('user');
  // The newest turn: the last user message and what the CLI appends after it (its budget note).
  const turn = req.filter((b) => b.part === 'messages' && b.message! >= lastUser);
  const history = req.filter((b) => b.part === 'messages' && b.message! < lastUser);
  const fixed = req.filter((b) => b.part !== 'messages');
  return { total: size(req), fixed: size(fixed), history: size(history), turn: size(turn) };
}

async function say(h: BenchHarness, project: { id: number }, iid: number, discussionId: string, body: string): Promise<RecordedRequest> {
  const n = h.model.requests.length;
  const { note, discussion } = h.gitlab.addNote(project as never, iid, ALICE.id, body, { discussionId });
  const t0 = performance.now();
  await h.send(h.gitlab.noteHook(project as never, iid, note, discussion));
  await waitFor(() => h.timeline.since(t0, 'gitlab.reply').some((s) => Number.isFinite(s.end)), 60_000, 'the reply');
  await h.bot.queue.drained();
  const reqs = h.model.requests.slice(n);
  if (reqs.length !== 1) throw new Error(`expected one model request for a reply, got ${reqs.length}`);
  return reqs[0]!;
}

export async function run(): Promise<Section> {
  const h = await benchHarness();
  try {
    // A mid-sized MR: 8 new files of 80 functions (1,900 added lines).
    const { project, mr } = await makeMr(h, { path: 'bench/context', files: 10, changed: 8, linesPerFile: 80 });
    const n0 = h.model.requests.length;
    await reviewViaWebhook(h, project, mr.iid);
    const trunkReq = h.model.requests.slice(n0).at(-1)!;
    const trunkCall = h.calls.at(-1)!;
    const thread = h.gitlab.discussions(project, mr.iid).find((d) => readMarker(d.notes[0]?.body ?? '')?.kind === 'finding');
    if (!thread) throw new Error('the review posted no finding');

    const forkReq = await say(h, project, mr.iid, thread.id, 'Why is this a bug? The callers never pass 0.');
    const forkCall = h.calls.at(-1)!;
    const resumeReq = await say(h, project, mr.iid, thread.id, 'And if they did, would it throw?');

    // The alternative bot: every reply is a fresh session given the review prompt (the diff) and the question.
    // Two replies, so the second can hit what the first left in the cache.
    const fresh: RecordedRequest[] = [];
    for (const q of ['Why is this a bug? The callers never pass 0.', 'Does src/mod1.js need the same check?']) {
      const n = h.model.requests.length;
      const prompt = `${trunkCall.prompt}\n\n${forkCall.prompt.replace(/Why is this a bug\? The callers never pass 0\./, q)}`;
      await bareClaude(h, { cwd: forkCall.cwd, prompt, systemPrompt: forkCall.systemPrompt, jsonSchema: forkCall.jsonSchema, mode: { kind: 'new', sessionId: randomUUID() } });
      fresh.push(h.model.requests[n]!);
    }

    const T = blocks(trunkReq.body);
    const F = blocks(forkReq.body);
    const R = blocks(resumeReq.body);
    const A = blocks(fresh[0]!.body);
    const B = blocks(fresh[1]!.body);
    const fp = parts(F, forkReq.body);
    const rp = parts(R, resumeReq.body);
    const bp = parts(B, fresh[1]!.body);
    const forkCached = cachedBytes(F, [T]);
    const resumeCached = cachedBytes(R, [T, F]);
    const freshCached = cachedBytes(B, [A]);
    // What the fork would hit if its tools and system prompt were the trunk's: the trunk's whole conversation.
    const sameHead = [...T.filter((b) => b.part !== 'messages'), ...F.filter((b) => b.part === 'messages')];
    const potential = cachedBytes(sameHead, [T]);
    const firstDiff = F.findIndex((b, i) => b.key !== T[i]?.key);

    const rows: Row[] = [
      { metric: 'first reply (fork): request', value: bytes(fp.total), note: `review prompt with the diff ${bytes(Buffer.byteLength(trunkCall.prompt))}; tools+system ${bytes(fp.fixed)}, trunk conversation ${bytes(fp.history)}, new turn ${bytes(fp.turn)}` },
      { metric: '· share that is the trunk’s earlier conversation', value: pct(fp.history / fp.total) },
      { metric: '· share a prompt cache can serve (exact prefix)', value: pct(forkCached / fp.total), note: `prefix breaks at ${F[firstDiff]?.part ?? 'none'} block ${firstDiff}; with the trunk’s tools+system: ${pct(potential / size(sameHead))}` },
      { metric: 'follow-up (resume): share a prompt cache can serve', value: pct(resumeCached / rp.total), note: `request ${bytes(rp.total)}` },
      { metric: 'fresh session per reply (diff re-sent): request', value: bytes(bp.total), note: `cacheable ${pct(freshCached / bp.total)}` },
      { metric: 'uncached bytes per reply: fork vs fresh session', value: bytes(fp.total - forkCached), baseline: `${bytes(bp.total - freshCached)} fresh`, ratio: ratio((fp.total - forkCached) / (bp.total - freshCached)) },
      { metric: 'uncached bytes per reply: resume vs fresh session', value: bytes(rp.total - resumeCached), baseline: `${bytes(bp.total - freshCached)} fresh`, ratio: ratio((rp.total - resumeCached) / (bp.total - freshCached)) },
    ];
    const notes: string[] = [];
    if (forkCached < fp.history) {
      notes.push(
        `a fork's first request cannot reuse the trunk's cache entry: its ${F[firstDiff]?.part} differ from the trunk's (schema, system prompt or model), and a prompt cache matches exact prefixes in the order tools → system → messages. With the trunk's tools and system, ${pct(potential / size(sameHead))} of it would be cacheable.`,
      );
    }
    return { id: '7', title: 'Context reuse', rows, notes };
  } finally {
    await h.close();
  }
}
