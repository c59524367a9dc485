// What makes two webhook deliveries the same one (src/server/delivery-key.ts).
import { describe, expect, it } from 'vitest';
import { deliveryKey } from '../src/server/delivery-key.js';

const headers = (h: Record<string, string>) => (n: string) => h[n];
const note = (id: number, updated_at: string) => ({ object_kind: 'note', object_attributes: { id, updated_at, note: 'x' } });
const mr = (action: string, head: string, updated_at = '2026-01-01 10:00:00 UTC') => ({
  object_kind: 'merge_request', object_attributes: { id: 7, iid: 1, action, updated_at, last_commit: { id: head } },
});

describe('deliveryKey', () => {
  it('is the Idempotency-Key when GitLab sends one (17.4+), or webhook-id of a signed hook, never X-Gitlab-Event-UUID', () => {
    expect(deliveryKey(headers({ 'idempotency-key': 'k1', 'x-gitlab-event-uuid': 'u' }), note(1, 't'))).toBe('idem:k1');
    expect(deliveryKey(headers({ 'webhook-id': 'w1' }), {})).toBe('idem:w1');
    // two deliveries sharing an event UUID but no key are told apart by their objects
    const a = deliveryKey(headers({ 'x-gitlab-event-uuid': 'u' }), note(1, '2026-01-01 10:00:00 UTC'));
    const b = deliveryKey(headers({ 'x-gitlab-event-uuid': 'u' }), note(2, '2026-01-01 10:00:00 UTC'));
    expect(a).not.toBe(b);
    expect(a).not.toContain('u');
  });

  it('without a key: the object, its update time, and for an MR the action and head', () => {
    const none = headers({});
    expect(deliveryKey(none, note(1, '2026-01-01 10:00:00 UTC'))).toBe('obj:note:1@2026-01-01 10:00:00 UTC');
    expect(deliveryKey(none, note(1, '2026-01-01 10:00:05 UTC'))).not.toBe(deliveryKey(none, note(1, '2026-01-01 10:00:00 UTC')));
    expect(deliveryKey(none, mr('update', 'aaa'))).toBe(deliveryKey(none, mr('update', 'aaa')));
    expect(deliveryKey(none, mr('update', 'aaa'))).not.toBe(deliveryKey(none, mr('update', 'bbb')));
    expect(deliveryKey(none, mr('update', 'aaa'))).not.toBe(deliveryKey(none, mr('approved', 'aaa')));
  });

  it('is undefined when nothing identifies the delivery, and bounded in length', () => {
    for (const p of [null, [], 'x', {}, { object_kind: 'note' }, { object_kind: 'note', object_attributes: { id: '1', updated_at: 't' } }, note(1, '')]) {
      expect(deliveryKey(headers({}), p)).toBeUndefined();
    }
    expect(deliveryKey(headers({ 'idempotency-key': 'k'.repeat(10_000) }), {})!.length).toBeLessThanOrEqual(205);
    expect(deliveryKey(headers({}), note(1, 't'.repeat(10_000)))!.length).toBeLessThanOrEqual(200);
  });
});
