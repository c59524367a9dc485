// Bad input never harms the server: >1,000 malformed webhooks with the right token, against the real bot over HTTP.
// GitLab never redelivers and disables a hook after 4 non-2xx answers in a row, so every authenticated delivery
// gets an empty 200 and a log line, except 400 for a body that is not JSON at all and 413 above the size limit
// (GitLab sends neither). Nothing is ever enqueued and /healthz stays 200.
import fc from 'fast-check';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HANDLED_EVENTS, KNOWN_EVENTS } from '../src/events/classify.js';
import type { FlowTable } from '../src/flows/dispatch.js';
import { ALICE, sampleMr, SECRET, startHarness, type Harness } from '../standins/harness.js';

const LIMIT = 64 * 1024;
let h: Harness;
let mrPayload: any;
let notePayload: any;
let enqueued = 0;
let flowsRun = 0;
const answers = { total: 0, rejected: 0, ignored: 0 };
const isJson = (body: Body) => {
  try {
    JSON.parse(typeof body === 'string' ? body : new TextDecoder().decode(body));
    return true;
  } catch {
    return false;
  }
};

const recording: FlowTable = {
  review: async () => void flowsRun++,
  update: async () => void flowsRun++,
  reply: async () => void flowsRun++,
};

beforeAll(async () => {
  h = await startHarness({ MAX_BODY_BYTES: String(LIMIT), LOG_LEVEL: 'info' }, { flows: recording });
  // Observe enqueue on the real queue instance the app holds (not a mock: the call still goes through).
  const real = h.bot.queue.enqueue.bind(h.bot.queue);
  h.bot.queue.enqueue = (spec) => {
    enqueued++;
    return real(spec);
  };
  const { project, mr } = await sampleMr(h, { path: 'fuzz/app' });
  mrPayload = h.gitlab.mrHook(project, mr.iid, 'open');
  const { note } = h.gitlab.addNote(project, mr.iid, ALICE.id, '@review-bot why?', { thread: true });
  notePayload = h.gitlab.noteHook(project, mr.iid, note);
});
afterAll(async () => h?.close());

type Body = string | Uint8Array;

async function post(body: Body, event: string | undefined): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-gitlab-token': SECRET };
  if (event !== undefined) headers['x-gitlab-event'] = event;
  const r = await fetch(`${h.url}/webhooks/gitlab`, { method: 'POST', headers, body });
  return { status: r.status, text: await r.text() };
}

/**
 * POST over node:http on a fresh connection. The server answers 413 before reading a too-large body and drops the
 * connection; fetch (undici) then reports "other side closed" even though the 413 arrived, node:http reports it.
 */
function postLarge(bytes: Uint8Array, streamed: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { 'content-type': 'application/json', 'x-gitlab-token': SECRET, 'x-gitlab-event': 'Merge Request Hook' };
    if (!streamed) headers['content-length'] = bytes.length;
    let answered = false;
    const req = http.request(`${h.url}/webhooks/gitlab`, { method: 'POST', headers, agent: false }, (res) => {
      answered = true;
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (e) => !answered && reject(e));
    // streamed: chunked transfer, no length for the server to check up front
    for (let i = 0; i < bytes.length; i += 16 * 1024) req.write(bytes.subarray(i, i + 16 * 1024));
    req.end();
  });
}

/** The property every answer must have (empty 200, or 400 exactly when the body is not JSON); counts what came back. */
async function expectAcknowledged(body: Body, event: string | undefined): Promise<void> {
  const r = await post(body, event);
  answers.total++;
  const expected = isJson(body) ? 200 : 400;
  if (r.status !== expected || r.text !== '') throw new Error(`answered ${r.status} ${JSON.stringify(r.text.slice(0, 200))} (expected an empty ${expected}) for event ${JSON.stringify(event)}`);
  if (expected === 200) answers.ignored++;
  else answers.rejected++;
}

async function healthy(): Promise<void> {
  expect((await fetch(`${h.url}/healthz`)).status).toBe(200);
  expect(enqueued).toBe(0);
  expect(flowsRun).toBe(0);
  expect(await h.bot.queue.stats()).toMatchObject({ pending: 0, running: 0, failed: 0 });
}

const handledEvent = fc.constantFrom(...HANDLED_EVENTS);
const headerText = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ-_0123456789./:'.split('')), maxLength: 40 });

/** A value whose JSON type is not `expected` (null counts as wrong: these fields are required). */
function wrongFor(expected: 'int' | 'string' | 'object'): fc.Arbitrary<unknown> {
  const all: Record<string, fc.Arbitrary<unknown>> = {
    int: fc.oneof(fc.integer(), fc.constant(0)),
    float: fc.double({ noInteger: true, noDefaultInfinity: true, noNaN: true }),
    string: fc.string({ maxLength: 20 }),
    numericString: fc.integer({ min: 1, max: 99999 }).map(String),
    bool: fc.boolean(),
    null: fc.constant(null),
    array: fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
    object: fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
  };
  const wrong = {
    int: ['float', 'string', 'numericString', 'bool', 'null', 'array', 'object'],
    string: ['int', 'float', 'bool', 'null', 'array', 'object'],
    object: ['int', 'string', 'bool', 'null', 'array'],
  }[expected];
  return fc.oneof(...wrong.map((k) => all[k]!));
}

/** Fields the bot depends on, with their type. */
const MR_FIELDS: [string[], 'int' | 'string' | 'object'][] = [
  [['user'], 'object'], [['user', 'id'], 'int'], [['user', 'username'], 'string'],
  [['project'], 'object'], [['project', 'id'], 'int'], [['project', 'path_with_namespace'], 'string'],
  [['object_attributes'], 'object'], [['object_attributes', 'id'], 'int'], [['object_attributes', 'iid'], 'int'],
  [['object_attributes', 'title'], 'string'], [['object_attributes', 'state'], 'string'], [['object_attributes', 'action'], 'string'],
  [['object_attributes', 'source_branch'], 'string'], [['object_attributes', 'target_branch'], 'string'],
  [['object_attributes', 'last_commit', 'id'], 'string'],
];
const NOTE_FIELDS: [string[], 'int' | 'string' | 'object'][] = [
  [['user'], 'object'], [['user', 'id'], 'int'], [['project'], 'object'], [['project', 'id'], 'int'],
  [['object_attributes'], 'object'], [['object_attributes', 'id'], 'int'], [['object_attributes', 'note'], 'string'],
  [['object_attributes', 'noteable_type'], 'string'], [['merge_request'], 'object'], [['merge_request', 'iid'], 'int'],
  [['merge_request', 'title'], 'string'], [['merge_request', 'state'], 'string'],
];

function setAt(obj: any, path: string[], value: unknown, remove: boolean): any {
  const copy = structuredClone(obj);
  let o = copy;
  for (const k of path.slice(0, -1)) o = o[k];
  if (remove) delete o[path.at(-1)!];
  else o[path.at(-1)!] = value;
  return copy;
}

/** A real payload with one required field of the wrong type, or missing. */
const wrongTyped = fc.oneof(
  ...([['Merge Request Hook', () => mrPayload, MR_FIELDS], ['Note Hook', () => notePayload, NOTE_FIELDS]] as const).map(([event, base, fields]) =>
    fc.constantFrom(...fields).chain(([path, type]) =>
      fc.record({ value: wrongFor(type), remove: fc.boolean() }).map(({ value, remove }) => ({ event, body: setAt(base(), path, value, remove), path })),
    ),
  ),
);

describe('webhook fuzz: malformed bodies with the right token', () => {
  it('random bytes → 400 (not JSON), or an empty 200 when they happen to be JSON', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), handledEvent, (bytes, event) => expectAcknowledged(bytes, event)), { numRuns: 250 });
    await healthy();
  });

  it('arbitrary JSON of any shape → empty 200, ignored', async () => {
    await fc.assert(fc.asyncProperty(fc.jsonValue({ maxDepth: 4 }), handledEvent, (v, event) => expectAcknowledged(JSON.stringify(v) ?? 'null', event)), { numRuns: 200 });
    await healthy();
  });

  it('deeply nested JSON, alone or inside a real payload → empty 200, ignored', async () => {
    const deep = fc.record({
      depth: fc.integer({ min: 500, max: 9_000 }),
      shape: fc.constantFrom('array', 'object', 'in-payload'),
    });
    await fc.assert(
      fc.asyncProperty(deep, handledEvent, ({ depth, shape }, event) => {
        const nest = shape === 'array' ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
        const body = shape === 'in-payload' ? JSON.stringify({ ...mrPayload, object_attributes: '__DEEP__' }).replace('"__DEEP__"', nest) : nest;
        return expectAcknowledged(body, event);
      }),
      { numRuns: 60 },
    );
    await healthy();
  });

  it('unknown or missing X-Gitlab-Event with a valid payload → empty 200, ignored', async () => {
    const unknown = fc.option(headerText.filter((s) => !KNOWN_EVENTS.includes(s.trim())), { nil: undefined, freq: 10 });
    await fc.assert(fc.asyncProperty(unknown, fc.boolean(), (event, note) => expectAcknowledged(JSON.stringify(note ? notePayload : mrPayload), event)), { numRuns: 150 });
    await healthy();
  });

  it('real payloads with a required field of the wrong type, or missing → empty 200, ignored', async () => {
    await fc.assert(fc.asyncProperty(wrongTyped, ({ event, body }) => expectAcknowledged(JSON.stringify(body), event)), { numRuns: 300 });
    await healthy();
  });

  it('a payload sent under the other handled event → empty 200, ignored', async () => {
    await expectAcknowledged(JSON.stringify(mrPayload), 'Note Hook');
    await expectAcknowledged(JSON.stringify(notePayload), 'Merge Request Hook');
    await healthy();
  });

  it('oversize bodies, with a length or streamed in chunks → 413', async () => {
    const big = fc.record({ size: fc.integer({ min: LIMIT + 1, max: LIMIT * 8 }), valid: fc.boolean(), streamed: fc.boolean() });
    let count413 = 0;
    await fc.assert(
      fc.asyncProperty(big, async ({ size, valid, streamed }) => {
        // valid: a real, reviewable payload made huge by its description, so only the size stops it
        const text = valid ? JSON.stringify({ ...mrPayload, object_attributes: { ...mrPayload.object_attributes, description: 'x'.repeat(size) } }) : 'x'.repeat(size);
        const status = await postLarge(new TextEncoder().encode(text), streamed);
        answers.total++;
        if (status !== 413) throw new Error(`answered ${status} for ${size} bytes`);
        answers.rejected++;
        count413++;
      }),
      { numRuns: 40 },
    );
    expect(count413).toBe(40);
    await healthy();
  });

  it('events GitLab sends that the bot does not handle → empty 200, ignored, whatever their JSON', async () => {
    const unhandled = fc.constantFrom(...KNOWN_EVENTS.filter((e) => !HANDLED_EVENTS.includes(e)));
    await fc.assert(fc.asyncProperty(unhandled, fc.jsonValue({ maxDepth: 3 }), (event, v) => expectAcknowledged(JSON.stringify(v) ?? 'null', event)), { numRuns: 100 });
    await healthy();
  });

  it('took over 1,000 bodies, logged every one, and still serves a real delivery', async () => {
    expect(answers.total).toBeGreaterThanOrEqual(1_000);
    expect(answers.rejected + answers.ignored).toBe(answers.total);
    expect(h.logs.filter((l) => l.includes('webhook rejected')).length).toBe(answers.rejected);
    expect(h.logs.filter((l) => l.includes('"msg":"webhook ignored"')).length).toBe(answers.ignored);
    // The server is not just alive but working: a good delivery is still accepted.
    const ok = await post(JSON.stringify(mrPayload), 'Merge Request Hook');
    expect(ok.status).toBe(200);
    expect(enqueued).toBe(1);
  });
});
