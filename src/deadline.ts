// Bounded waits: what a caller does when a dependency (Redis, a store, a draining job) does not answer in time.
// The awaited work itself goes on; only the wait ends.

/** `p`, or a rejection after `ms` naming `what`. */
export function within<T>(p: Promise<T>, ms: number, what?: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what ? `${what}: ` : ''}no answer within ${ms} ms`)), Math.max(0, ms));
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Whether `p` settled (either way) within `ms`. */
export function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return within(p.then(() => true, () => true), ms).catch(() => false);
}
