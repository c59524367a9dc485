import { describe, expect, it } from 'vitest';
import { newThreadRecord, type ThreadRecord } from '../src/store/records.js';

const ids = { projectId: 1, iid: 2, discussionId: 'd1', forkSessionId: 'f1', trunkSessionId: 't1' };

describe('newThreadRecord', () => {
  it('starts a thread running, with nothing seen, answered or spent', () => {
    const r = newThreadRecord({ ...ids, url: 'https://g/x#note_1', findingFp: 'fp' });
    expect(r).toMatchObject({ ...ids, status: 'running', lastSeenNoteId: 0, turns: 0, costUsd: 0, rebuilds: 0, answered: [], url: 'https://g/x#note_1', findingFp: 'fp' });
    expect(r.createdAt).toBe(r.updatedAt);
  });

  it('a rebuild keeps the history of the record it replaces, under the new session', () => {
    const prior: ThreadRecord = { ...ids, forkSessionId: 'old', lastSeenNoteId: 40, status: 'failed', turns: 3, costUsd: 0.3, rebuilds: 1, answered: [39, 40], url: 'u', findingFp: 'fp', createdAt: '2025-01-01T00:00:00.000Z', updatedAt: '2025-01-02T00:00:00.000Z' };
    const r = newThreadRecord({ ...ids, forkSessionId: 'new' }, prior);
    expect(r).toMatchObject({ forkSessionId: 'new', status: 'running', lastSeenNoteId: 40, turns: 3, costUsd: 0.3, rebuilds: 1, answered: [39, 40], url: 'u', findingFp: 'fp', createdAt: prior.createdAt });
    expect(r.updatedAt > prior.updatedAt).toBe(true);
    expect(newThreadRecord({ ...ids, lastSeenNoteId: 50 }, prior).lastSeenNoteId).toBe(50);
  });
});
