// The session service (src/claude/session-service.ts) with the real claude CLI against the model stand-in: which
// session each turn runs in (new, resume, fork, rebuild), what the store says about it, and what each session saw.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalLocks } from '../src/claude/locks.js';
import { buildEnv } from '../src/claude/options.js';
import { transcriptPath } from '../src/claude/paths.js';
import { ClaudeError } from '../src/claude/result.js';
import { ClaudeSessionService, type ThreadStart } from '../src/claude/session-service.js';
import { Sessions } from '../src/claude/sessions.js';
import { createLogger } from '../src/logger.js';
import { Store } from '../src/store/store.js';
import { CLAUDE_BIN, startModelStandin, type ModelStandin, type RecordedRequest } from '../standins/model.js';

const sessionOf = (r: RecordedRequest) => r.headers['x-claude-code-session-id'];
const TURN = { systemPrompt: 'You review code.', jsonSchema: { type: 'object', properties: { say: { type: 'string' } }, required: ['say'] } };
const says = (say: string) => ({ structured: { say } });

let model: ModelStandin;
let root: string;
beforeAll(async () => {
  model = await startModelStandin();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'mrr-session-service-'));
});
afterAll(async () => {
  await model?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

let n = 0;
/** A service over a fresh store and CLAUDE_CONFIG_DIR, and an MR checked out in a directory of its own. */
function setup() {
  const dir = path.join(root, String(++n));
  const configDir = path.join(dir, 'claude');
  const cwd = path.join(dir, 'worktree');
  fs.mkdirSync(path.join(configDir, 'home'), { recursive: true });
  fs.mkdirSync(cwd, { recursive: true });
  fs.writeFileSync(path.join(cwd, 'math.js'), 'export const div = (a, b) => a / b;\n');
  const logs: string[] = [];
  const log = createLogger({ level: 'debug', redact: (s) => s, destination: new Writable({ write: (c, _e, cb) => (logs.push(c.toString()), cb()) }) });
  const cli = new Sessions({
    bin: CLAUDE_BIN,
    configDir,
    env: buildEnv({ configDir, homeDir: path.join(configDir, 'home'), anthropicApiKey: 'sk-test', anthropicBaseUrl: model.url, maxRetries: 0 }),
    timeoutMs: 120_000,
    locks: new LocalLocks(),
    slots: { run: (fn) => fn() },
  });
  const store = new Store(new Map());
  const prepared: string[] = [];
  const workspaces = {
    async prepare() {
      prepared.push(cwd);
      return cwd;
    },
  };
  const service = new ClaudeSessionService({ cli, store, workspaces, log });
  const mr = { project: { id: 7, path: 'team/app' }, iid: 3, cwd, sha: 'a'.repeat(40), targetBranch: 'main' };
  const transcript = (id: string) => transcriptPath(configDir, cwd, id);
  return { service, store, mr, cwd, transcript, prepared, logs };
}

/** Thread prompts that say how the turn started, so a test can read the decision in what the model saw. */
const ask = (q: string) => (start: ThreadStart) => `${start.toUpperCase()}: ${q}`;

describe('ClaudeSessionService', () => {
  it('starts the trunk as a new session recorded in the store, and resumes it with its conversation on a push', async () => {
    const { service, store, mr, transcript } = setup();
    const start = model.requests.length;
    model.script(says('TRUNK-1'));
    const first = await service.review(mr, 'REVIEW-PROMPT', TURN);
    const rec = (await store.getMr(7, 3))!;
    expect(rec).toMatchObject({ trunkSessionId: first.sessionId, trunkStatus: 'done', workspace: mr.cwd });
    expect(rec.trunkModel).toBeTruthy();
    expect(sessionOf(model.requests[start]!)).toBe(first.sessionId);
    expect(fs.existsSync(transcript(first.sessionId))).toBe(true);
    expect(await service.hasTrunk(mr)).toBe(true);

    model.script(says('TRUNK-2'));
    const push = await service.reviewPush(mr, 'PUSH-PROMPT', TURN);
    expect(push.sessionId).toBe(first.sessionId);
    const req = model.requests.at(-1)!;
    expect(sessionOf(req)).toBe(first.sessionId);
    expect(req.text).toContain('REVIEW-PROMPT'); // the trunk's conversation
    expect(req.lastUserText).toContain('PUSH-PROMPT');
  });

  it('forks the trunk on a thread\'s first turn and resumes the fork after; the trunk stays as it was', async () => {
    const { service, store, mr, transcript } = setup();
    model.script(says('TRUNK'));
    const trunk = await service.review(mr, 'REVIEW-PROMPT', TURN);
    const trunkBefore = fs.readFileSync(transcript(trunk.sessionId), 'utf8');
    const thread = { ...mr, discussionId: 'd1', seed: { url: 'https://gitlab/x#note_1', findingFp: 'fp1' } };

    model.script(says('A1'));
    const a1 = await service.continueThread(thread, ask('Q1'), TURN);
    expect(a1).toMatchObject({ forked: true, rebuilt: false });
    expect(a1.sessionId).not.toBe(trunk.sessionId);
    const forkReq = model.requests.at(-1)!;
    expect(sessionOf(forkReq)).toBe(a1.sessionId);
    expect(forkReq.text).toContain('REVIEW-PROMPT'); // the review is in the fork's context
    expect(forkReq.lastUserText).toContain('FORK: Q1');
    expect(await store.getThread(7, 3, 'd1')).toMatchObject({ forkSessionId: a1.sessionId, trunkSessionId: trunk.sessionId, status: 'done', url: 'https://gitlab/x#note_1', findingFp: 'fp1', turns: a1.numTurns });

    model.script(says('A2'));
    const a2 = await service.continueThread(thread, ask('Q2'), TURN, (t, turn) => {
      t.pendingReply = { noteId: 2, reply: String((turn.structured as { say: string }).say), verdict: 'answered', forkSessionId: turn.sessionId, forked: turn.forked, rebuilt: turn.rebuilt };
    });
    expect(a2).toMatchObject({ sessionId: a1.sessionId, forked: false, rebuilt: false });
    const resumeReq = model.requests.at(-1)!;
    expect(resumeReq.lastUserText).toContain('RESUME: Q2');
    expect(resumeReq.text).toContain('FORK: Q1'); // the thread's own history
    expect((await store.getThread(7, 3, 'd1'))?.pendingReply?.reply).toBe('A2'); // kept in the same write
    expect(fs.readFileSync(transcript(trunk.sessionId), 'utf8')).toBe(trunkBefore);
  });

  it('rebuilds a thread whose transcript is gone, and one whose last turn died mid-run, as new forks', async () => {
    const { service, store, mr, transcript, logs } = setup();
    model.script(says('TRUNK'), says('A1'));
    await service.review(mr, 'REVIEW-PROMPT', TURN);
    const thread = { ...mr, discussionId: 'd1' };
    const a1 = await service.continueThread(thread, ask('Q1'), TURN);

    fs.rmSync(transcript(a1.sessionId));
    model.script(says('A2'));
    const a2 = await service.continueThread(thread, ask('Q2'), TURN);
    expect(a2).toMatchObject({ forked: true, rebuilt: true });
    expect(a2.sessionId).not.toBe(a1.sessionId);
    expect(model.requests.at(-1)!.lastUserText).toContain('REBUILD: Q2');
    expect(logs.some((l) => l.includes('rebuilding it from the thread'))).toBe(true);

    await store.updateThread(7, 3, 'd1', (t) => {
      t.status = 'running'; // a crash mid-turn
    });
    model.script(says('A3'));
    const a3 = await service.continueThread(thread, ask('Q3'), TURN);
    expect(a3).toMatchObject({ forked: true, rebuilt: true });
    // a rebuilt thread keeps its record: what it cost and how often it was rebuilt
    expect(await store.getThread(7, 3, 'd1')).toMatchObject({ forkSessionId: a3.sessionId, rebuilds: 2, turns: a1.numTurns + a2.numTurns + a3.numTurns, status: 'done' });
  });

  it('checks a fix in the thread\'s session: a fork when the thread has none, its own session when it has one', async () => {
    const { service, mr } = setup();
    model.script(says('TRUNK'), says('NOT-YET'), says('FIXED'));
    await service.review(mr, 'REVIEW-PROMPT', TURN);
    const thread = { ...mr, discussionId: 'd1', seed: { findingFp: 'fp1', lastSeenNoteId: 5 } };
    const first = await service.checkFix(thread, 'FIX-PROMPT-1', TURN);
    expect(first).toMatchObject({ forked: true, rebuilt: false });
    const second = await service.checkFix(thread, 'FIX-PROMPT-2', TURN);
    expect(second).toMatchObject({ sessionId: first.sessionId, forked: false });
    expect(model.requests.at(-1)!.text).toContain('FIX-PROMPT-1');
  });

  it('runs the verifier in a session of its own that knows nothing of the review', async () => {
    const { service, store, mr } = setup();
    model.script(says('TRUNK'), says('VERIFIED'));
    const trunk = await service.review(mr, 'REVIEW-PROMPT', TURN);
    const v = await service.verify(mr, 'VERIFY-PROMPT', TURN);
    const req = model.requests.at(-1)!;
    expect(v.sessionId).not.toBe(trunk.sessionId);
    expect(sessionOf(req)).toBe(v.sessionId);
    expect(req.text).not.toContain('REVIEW-PROMPT');
    expect((await store.getMr(7, 3))?.trunkSessionId).toBe(trunk.sessionId);
  });

  it('has no trunk to continue before a review, after a failed one, or when its transcript is gone', async () => {
    const { service, store, mr, transcript } = setup();
    expect(await service.hasTrunk(mr)).toBe(false);
    await expect(service.continueThread({ ...mr, discussionId: 'd1' }, ask('Q'), TURN)).rejects.toMatchObject({ kind: 'session_missing' });

    model.script({ error: { status: 400, type: 'invalid_request_error', message: 'prompt is too long' } });
    const failed = await service.review(mr, 'REVIEW-PROMPT', TURN).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(ClaudeError);
    expect(await store.getMr(7, 3)).toMatchObject({ trunkStatus: 'failed' });
    expect(await service.hasTrunk(mr)).toBe(false);

    model.script(says('TRUNK'));
    const trunk = await service.review(mr, 'REVIEW-PROMPT', TURN);
    expect(await store.getMr(7, 3)).toMatchObject({ trunkStatus: 'done', trunkSessionId: trunk.sessionId });
    expect((await store.getMr(7, 3))?.lastError).toBeUndefined();
    fs.rmSync(transcript(trunk.sessionId));
    expect(await service.hasTrunk(mr)).toBe(false);
  });

  it('a thread turn without a checkout at hand uses the trunk\'s, and checks the MR out again where it is missing', async () => {
    const { service, store, mr, prepared } = setup();
    model.script(says('TRUNK'), says('A1'), says('A2'));
    await service.review(mr, 'REVIEW-PROMPT', TURN);
    const { cwd: _, ...elsewhere } = mr;
    await service.continueThread({ ...elsewhere, discussionId: 'd1' }, ask('Q1'), TURN);
    expect(prepared).toHaveLength(0); // the trunk's checkout is there
    await store.updateMr(7, 3, 'team/app', (r) => {
      r.workspace = path.join(root, 'another-replica', 'worktree');
    });
    expect(await service.hasTrunk(elsewhere)).toBe(true);
    await service.continueThread({ ...elsewhere, discussionId: 'd1' }, ask('Q2'), TURN);
    expect(prepared).toEqual([mr.cwd]); // once for the MR on this replica
    expect(model.requests.at(-1)!.lastUserText).toContain('RESUME: Q2');
  });
});
