// A fake SessionService for flow tests: in memory, no CLI. It keeps the service's contract with the store (trunk and
// thread records, written when the real one writes them) and answers with structured outputs the test scripts.
// The decisions it mirrors (resume a finished thread whose transcript is here, else fork; rebuild a lost one) are
// proven on the real service in test/session-service.test.ts.
import { ClaudeError, type ClaudeResult } from '../../src/claude/result.js';
import type {
  KeepThreadTurn, MrCheckout, MrRef, SessionService, ThreadRef, ThreadStart, ThreadTurn, TrunkTurn, TurnRequest,
} from '../../src/claude/session-service.js';
import { newThreadRecord } from '../../src/store/records.js';
import type { Store } from '../../src/store/store.js';

export type TurnKind = 'review' | 'review_push' | 'verify' | 'thread' | 'fix_check' | 'apply';

export interface FakeCall {
  kind: TurnKind;
  iid: number;
  sessionId: string;
  prompt: string;
  turn: TurnRequest;
  discussionId?: string;
  start?: ThreadStart;
}

/** A structured output, an error to throw, or a function of the call that returns either. */
export type Answer = unknown;

export class FakeSessions implements SessionService {
  readonly calls: FakeCall[] = [];
  private readonly answers: Answer[] = [];
  /** sessions whose transcript "exists" */
  private readonly transcripts = new Set<string>();
  private n = 0;

  constructor(private readonly store: Store) {}

  /** The next turns' answers, in order. */
  script(...answers: Answer[]): void {
    this.answers.push(...answers);
  }

  /** The session's transcript is gone (another replica's disk, a wiped volume). */
  lose(sessionId: string): void {
    this.transcripts.delete(sessionId);
  }

  /** Calls of one kind. */
  of(kind: TurnKind): FakeCall[] {
    return this.calls.filter((c) => c.kind === kind);
  }

  async review(mr: MrCheckout, prompt: string, turn: TurnRequest): Promise<TrunkTurn> {
    const sessionId = this.newId('trunk');
    await this.store.updateMr(mr.project.id, mr.iid, mr.project.path, (r) => {
      Object.assign(r, { trunkSessionId: sessionId, trunkStatus: 'running', workspace: mr.cwd });
    });
    return this.trunkTurn(mr, { kind: 'review', iid: mr.iid, sessionId, prompt, turn });
  }

  async hasTrunk(mr: MrRef): Promise<boolean> {
    const rec = await this.store.getMr(mr.project.id, mr.iid);
    return rec?.trunkStatus === 'done' && this.transcripts.has(rec.trunkSessionId ?? '');
  }

  async reviewPush(mr: MrCheckout, prompt: string, turn: TurnRequest): Promise<TrunkTurn> {
    const sessionId = await this.trunkId(mr);
    return this.trunkTurn(mr, { kind: 'review_push', iid: mr.iid, sessionId, prompt, turn });
  }

  async verify(mr: MrCheckout, prompt: string, turn: TurnRequest): Promise<ClaudeResult> {
    return this.answer({ kind: 'verify', iid: mr.iid, sessionId: this.newId('verify'), prompt, turn });
  }

  continueThread(thread: ThreadRef, prompt: (start: ThreadStart) => string, turn: TurnRequest, keep?: KeepThreadTurn): Promise<ThreadTurn> {
    return this.threadTurn('thread', thread, prompt, turn, keep);
  }

  checkFix(thread: ThreadRef, prompt: string, turn: TurnRequest, keep?: KeepThreadTurn): Promise<ThreadTurn> {
    return this.threadTurn('fix_check', thread, () => prompt, turn, keep);
  }

  /** Only answers: the edits an apply makes are the real CLI's (test/apply.e2e.test.ts). */
  async applyInThread(thread: ThreadRef, _checkout: string, prompt: string, turn: TurnRequest): Promise<ClaudeResult | undefined> {
    const t = await this.store.getThread(thread.project.id, thread.iid, thread.discussionId);
    if (!t || !this.transcripts.has(t.forkSessionId)) return undefined;
    return this.answer({ kind: 'apply', iid: thread.iid, sessionId: t.forkSessionId, prompt, turn, discussionId: thread.discussionId });
  }

  private async trunkTurn(mr: MrCheckout, call: FakeCall): Promise<TrunkTurn> {
    const { project, iid } = mr;
    try {
      const result = await this.answer(call);
      await this.store.updateMr(project.id, iid, project.path, (r) => {
        Object.assign(r, { trunkStatus: 'done', trunkModel: result.model, lastError: undefined });
      });
      return result;
    } catch (e) {
      await this.store.updateMr(project.id, iid, project.path, (r) => {
        Object.assign(r, { trunkStatus: 'failed', lastError: (e as Error).message });
      });
      throw e;
    }
  }

  private async threadTurn(kind: TurnKind, thread: ThreadRef, prompt: (start: ThreadStart) => string, turn: TurnRequest, keep?: KeepThreadTurn): Promise<ThreadTurn> {
    const { project, iid, discussionId } = thread;
    const trunkSessionId = await this.trunkId(thread);
    const prior = await this.store.getThread(project.id, iid, discussionId);
    const resume = !!prior && prior.status !== 'running' && this.transcripts.has(prior.forkSessionId);
    const start: ThreadStart = resume ? 'resume' : prior ? 'rebuild' : 'fork';
    const sessionId = resume ? prior.forkSessionId : this.newId('fork');
    if (!resume) {
      const seed = prior ? { url: thread.seed?.url ?? prior.url } : thread.seed;
      await this.store.putThread(newThreadRecord({ projectId: project.id, iid, discussionId, forkSessionId: sessionId, trunkSessionId, ...seed }, prior));
    }
    const result = await this.answer({ kind, iid, sessionId, prompt: prompt(start), turn, discussionId, start });
    const done: ThreadTurn = { ...result, forked: !resume, rebuilt: start === 'rebuild' };
    await this.store.updateThread(project.id, iid, discussionId, (t) => {
      Object.assign(t, { status: 'done', forkSessionId: sessionId, turns: t.turns + 1, costUsd: t.costUsd + done.costUsd });
      if (done.rebuilt) t.rebuilds += 1;
      keep?.(t, done);
    });
    return done;
  }

  private async trunkId(mr: { project: { id: number }; iid: number }): Promise<string> {
    const rec = await this.store.getMr(mr.project.id, mr.iid);
    if (rec?.trunkStatus !== 'done' || !rec.trunkSessionId) throw new ClaudeError('session_missing', 'no finished trunk');
    return rec.trunkSessionId;
  }

  private newId(what: string): string {
    return `${what}-${++this.n}`;
  }

  private async answer(call: FakeCall): Promise<ClaudeResult> {
    this.calls.push(call);
    if (this.answers.length === 0) throw new Error(`the test scripted no answer for this ${call.kind} turn`);
    let a = this.answers.shift();
    if (typeof a === 'function') a = (a as (c: FakeCall) => unknown)(call);
    if (a instanceof Error) throw a;
    this.transcripts.add(call.sessionId);
    return { sessionId: call.sessionId, text: '', structured: a, costUsd: 0.01, usage: {}, numTurns: 1, durationMs: 1, permissionDenials: [], model: 'fake-model' };
  }
}
