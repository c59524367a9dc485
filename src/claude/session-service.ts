// An MR's Claude sessions behind one service. Each MR has one trunk (its review, resumed on every push); each
// discussion thread has its own fork of the trunk (made on the thread's first turn, resumed after, rebuilt from
// GitLab's text of the thread when its transcript is lost); a verifier is a session of its own. Flows say what to
// ask; this file decides new vs resume vs fork vs rebuild, keeps the session ids in the store (MrRecord.trunk*,
// ThreadRecord.forkSessionId/status), and makes transcripts present on this replica (portable sessions).
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import type { ProjectRef } from '../events/types.js';
import type { Logger } from '../logger.js';
import { newThreadRecord, type MrRecord, type ThreadRecord } from '../store/records.js';
import type { Store } from '../store/store.js';
import type { Workspaces } from '../workspace/workspaces.js';
import { ClaudeError, type ClaudeResult } from './result.js';
import type { Sessions, TurnOptions } from './sessions.js';

/** What a turn asks for besides its prompt. The model is the trunk's, chosen by the service. */
export interface TurnRequest {
  systemPrompt: string;
  jsonSchema?: object;
  maxBudgetUsd?: number;
  signal?: AbortSignal;
  /** what the call is for, in metrics (e.g. 'fix_plan'); the service names its own kinds otherwise */
  purpose?: string;
}

/** An MR checked out for this job (a review, a push, a verification). */
export interface MrCheckout {
  project: ProjectRef;
  iid: number;
  cwd: string;
}

/** An MR as a thread turn needs it: its checkout if the caller has one, else how to check it out on this replica. */
export interface MrRef {
  project: ProjectRef;
  iid: number;
  cwd?: string;
  /** GitLab's head and target branch: where a replica that lacks the trunk's checkout checks the MR out */
  sha: string;
  targetBranch: string;
}

export interface ThreadRef extends MrRef {
  discussionId: string;
  /** what the thread's record starts with when its first session is made (a rebuilt thread keeps its own) */
  seed?: Partial<Pick<ThreadRecord, 'url' | 'findingFp' | 'lastSeenNoteId'>>;
}

/** How a thread turn starts, so the caller can tell the session what it has not seen. */
export type ThreadStart =
  | 'resume' // the thread's session, which saw the thread up to its lastSeenNoteId
  | 'fork' // a new fork of the trunk: knows the review, not the thread
  | 'rebuild'; // a new fork for a thread whose session was lost: give it the thread's text

/** A trunk turn's result; `sessionId` is the trunk's. */
export type TrunkTurn = ClaudeResult;

/** A thread turn's result; `sessionId` is the thread's session after the turn. */
export type ThreadTurn = ClaudeResult & { forked: boolean; rebuilt: boolean };

/**
 * Applied to the thread's record in the same write that marks the turn done: whatever the caller keeps of a turn
 * it paid for (a pending reply, a fix verdict) is stored together with the session's state or not at all.
 */
export type KeepThreadTurn = (t: ThreadRecord, turn: ThreadTurn) => void;

export interface SessionService {
  /** A new trunk for the MR (a first review, or a forced one), recorded before the CLI starts. */
  review(mr: MrCheckout, prompt: string, turn: TurnRequest): Promise<TrunkTurn>;
  /** Whether the MR has a finished trunk this replica can continue (its transcript fetched here when needed). */
  hasTrunk(mr: MrRef): Promise<boolean>;
  /** The trunk resumed with what a push changed. */
  reviewPush(mr: MrCheckout, prompt: string, turn: TurnRequest): Promise<TrunkTurn>;
  /** An independent session without the review's history (the verifier), on the trunk's model. */
  verify(mr: MrCheckout, prompt: string, turn: TurnRequest): Promise<ClaudeResult>;
  /** A turn in the thread's own session: `prompt` says what to ask for each way the turn can start. */
  continueThread(thread: ThreadRef, prompt: (start: ThreadStart) => string, turn: TurnRequest, keep?: KeepThreadTurn): Promise<ThreadTurn>;
  /** A push's question to a finding's thread (is it fixed?), in the thread's session like continueThread. */
  checkFix(thread: ThreadRef, prompt: string, turn: TurnRequest, keep?: KeepThreadTurn): Promise<ThreadTurn>;
  /**
   * An approved apply: the thread's own session (never a new one: it holds the review, the thread and the plan)
   * resumed with edit tools, run in `checkout` (a fresh one; edits are accepted only there). Undefined when the
   * thread has no session on this replica any more.
   */
  applyInThread(thread: ThreadRef, checkout: string, prompt: string, turn: TurnRequest): Promise<ClaudeResult | undefined>;
}

export interface SessionServiceDeps {
  /** the CLI calls: new, resume, fork, with locks, slots and the portable-session hooks */
  cli: Sessions;
  store: Store;
  /** checks an MR out again on a replica that lacks the trunk's checkout */
  workspaces: Pick<Workspaces, 'prepare'>;
  log: Logger;
}

export class ClaudeSessionService implements SessionService {
  /** MRs this replica checked out again because the trunk's checkout is another replica's path */
  private readonly checkouts = new Map<string, string>();

  constructor(private readonly d: SessionServiceDeps) {}

  /** The CLI layer, for tools that measure single calls (bench). */
  get cli(): Sessions {
    return this.d.cli;
  }

  review(mr: MrCheckout, prompt: string, turn: TurnRequest): Promise<TrunkTurn> {
    const sessionId = randomUUID();
    return this.trunkTurn(mr, sessionId, () => this.d.cli.start(mr.cwd, sessionId, prompt, turn));
  }

  async hasTrunk(mr: MrRef): Promise<boolean> {
    const rec = await this.d.store.getMr(mr.project.id, mr.iid);
    if (!rec?.trunkSessionId || rec.trunkStatus !== 'done') return false;
    const cwd = await this.checkout(mr, rec);
    // Scale-out: this replica may never have run this MR (a no-op without portable sessions).
    await this.d.cli.restore(cwd, [rec.trunkSessionId]);
    if (this.d.cli.exists(cwd, rec.trunkSessionId)) return true;
    this.d.log.warn({ sessionId: rec.trunkSessionId }, 'the trunk transcript is gone');
    return false;
  }

  async reviewPush(mr: MrCheckout, prompt: string, turn: TurnRequest): Promise<TrunkTurn> {
    const rec = await this.trunkOf(mr);
    const id = rec.trunkSessionId!;
    // cli.resume fetches the transcript first when this replica lacks it.
    return this.trunkTurn(mr, id, () => this.d.cli.resume(mr.cwd, id, prompt, { ...turn, model: rec.trunkModel }));
  }

  async verify(mr: MrCheckout, prompt: string, turn: TurnRequest): Promise<ClaudeResult> {
    const rec = await this.d.store.getMr(mr.project.id, mr.iid);
    return this.d.cli.start(mr.cwd, randomUUID(), prompt, { ...turn, purpose: 'verify', model: rec?.trunkModel });
  }

  continueThread(thread: ThreadRef, prompt: (start: ThreadStart) => string, turn: TurnRequest, keep?: KeepThreadTurn): Promise<ThreadTurn> {
    return this.threadTurn(thread, prompt, turn, undefined, keep);
  }

  checkFix(thread: ThreadRef, prompt: string, turn: TurnRequest, keep?: KeepThreadTurn): Promise<ThreadTurn> {
    return this.threadTurn(thread, () => prompt, turn, 'fix_check', keep);
  }

  async applyInThread(thread: ThreadRef, checkout: string, prompt: string, turn: TurnRequest): Promise<ClaudeResult | undefined> {
    const rec = await this.d.store.getMr(thread.project.id, thread.iid);
    const t = await this.d.store.getThread(thread.project.id, thread.iid, thread.discussionId);
    if (!rec?.trunkSessionId || rec.trunkStatus !== 'done' || !t) return undefined;
    const cwd = await this.checkout(thread, rec);
    await this.d.cli.restore(cwd, [t.forkSessionId]); // scale-out: the transcript may be on another replica
    if (!this.d.cli.exists(cwd, t.forkSessionId)) return undefined;
    return this.d.cli.resume(cwd, t.forkSessionId, prompt, { ...turn, model: rec.trunkModel, tools: 'edit', runCwd: checkout, purpose: 'apply' });
  }

  /**
   * One trunk turn. The session id is recorded (status 'running') before the CLI starts, so a crash mid-run still
   * says which transcript to look for; a failure is recorded with what it cost.
   */
  private async trunkTurn(mr: MrCheckout, sessionId: string, run: () => Promise<ClaudeResult>): Promise<TrunkTurn> {
    const { project, iid } = mr;
    await this.d.store.updateMr(project.id, iid, project.path, (r) => {
      r.trunkSessionId = sessionId;
      r.trunkStatus = 'running';
      r.workspace = mr.cwd;
    });
    const result = await run().catch(async (e: unknown) => {
      await this.d.store.updateMr(project.id, iid, project.path, (r) => {
        r.trunkStatus = 'failed';
        r.lastError = e instanceof Error ? e.message : String(e);
        if (e instanceof ClaudeError && e.details.costUsd) r.costUsd += e.details.costUsd;
      });
      throw e;
    });
    await this.d.store.updateMr(project.id, iid, project.path, (r) => {
      r.trunkStatus = 'done';
      // Every later turn of the MR runs on the trunk's model (see TurnOptions.model).
      r.trunkModel = result.model ?? r.trunkModel;
      r.lastError = undefined;
    });
    return { ...result, sessionId };
  }

  /**
   * The thread's session is resumed when it finished its last turn and its transcript is here; otherwise the trunk
   * is forked under a new id (recorded before the CLI starts), told the thread so far if the thread had a session.
   */
  private async threadTurn(thread: ThreadRef, prompt: (start: ThreadStart) => string, turn: TurnRequest, purpose: string | undefined, keep?: KeepThreadTurn): Promise<ThreadTurn> {
    const { project, iid, discussionId } = thread;
    const rec = await this.trunkOf(thread);
    const cwd = await this.checkout(thread, rec);
    const options: TurnOptions = { ...turn, model: rec.trunkModel, purpose: turn.purpose ?? purpose };
    const prior = await this.d.store.getThread(project.id, iid, discussionId);
    if (prior) await this.d.cli.restore(cwd, [prior.forkSessionId]);

    let result: ClaudeResult | undefined;
    let sessionId = prior?.forkSessionId ?? '';
    // A turn that died mid-run (status 'running') may have left its transcript half-written: rebuild, never replay.
    if (prior && prior.status !== 'running' && this.d.cli.exists(cwd, prior.forkSessionId)) {
      await this.d.store.updateThread(project.id, iid, discussionId, (t) => {
        t.status = 'running';
      });
      result = await this.d.cli.resume(cwd, prior.forkSessionId, prompt('resume'), options).catch((e: unknown) => {
        if (!(e instanceof ClaudeError) || e.kind !== 'session_missing') throw e;
        return undefined; // the transcript vanished between the check and the call
      });
    }
    const forked = !result;
    const rebuilt = forked && !!prior;
    if (!result) {
      if (rebuilt) this.d.log.warn({ sessionId: prior!.forkSessionId, status: prior!.status }, 'thread session unusable or its transcript is gone; rebuilding it from the thread');
      sessionId = randomUUID();
      const ids = { projectId: project.id, iid, discussionId, forkSessionId: sessionId, trunkSessionId: rec.trunkSessionId! };
      const seed = prior ? { url: thread.seed?.url ?? prior.url } : thread.seed;
      await this.d.store.putThread(newThreadRecord({ ...ids, ...definedOnly(seed ?? {}) }, prior));
      // Shared on the trunk inside cli.fork: several threads fork it at once, a trunk turn waits for them.
      result = await this.d.cli.fork(cwd, rec.trunkSessionId!, sessionId, prompt(rebuilt ? 'rebuild' : 'fork'), options);
    }
    const done: ThreadTurn = { ...result, sessionId, forked, rebuilt };
    await this.d.store.updateThread(project.id, iid, discussionId, (t) => {
      t.status = 'done';
      t.forkSessionId = sessionId;
      t.turns += done.numTurns;
      t.costUsd += done.costUsd;
      if (rebuilt) t.rebuilds += 1;
      keep?.(t, done);
    });
    return done;
  }

  private async trunkOf(mr: { project: ProjectRef; iid: number }): Promise<MrRecord> {
    const rec = await this.d.store.getMr(mr.project.id, mr.iid);
    if (!rec?.trunkSessionId || rec.trunkStatus !== 'done') throw new ClaudeError('session_missing', `!${mr.iid} has no finished trunk session to continue`);
    return rec;
  }

  /**
   * The caller's checkout, else the trunk's; a replica without it (another DATA_DIR) checks the MR out again, at the
   * reviewed head, once: later turns of the MR on this replica find it in `checkouts`.
   */
  private async checkout(mr: MrRef, rec: MrRecord): Promise<string> {
    if (mr.cwd) return mr.cwd;
    const key = `${mr.project.id}:${mr.iid}`;
    const here = [rec.workspace, this.checkouts.get(key)].find((p) => p && fs.existsSync(p));
    if (here) return here;
    const cwd = await this.d.workspaces.prepare(mr.project, mr.iid, rec.reviewedSha ?? mr.sha, mr.targetBranch);
    this.checkouts.set(key, cwd);
    return cwd;
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
