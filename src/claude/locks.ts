// Per-session read/write locks. Two calls on one session corrupt its history (the CLI branches it and merges the
// replies into one turn), so a trunk run or a resume holds its session exclusively; forks only read the trunk, so
// several may share it.

export interface SessionLocks {
  exclusive<T>(key: string, fn: () => Promise<T>): Promise<T>;
  shared<T>(key: string, fn: () => Promise<T>): Promise<T>;
}

interface Waiter {
  mode: 'x' | 's';
  wake: () => void;
}

interface LockState {
  readers: number;
  writer: boolean;
  queue: Waiter[];
}

/** In-process, FIFO-fair RW lock per key: a waiting writer blocks later readers, so trunks are not starved. */
export class LocalLocks implements SessionLocks {
  private states = new Map<string, LockState>();

  exclusive<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.with(key, 'x', fn);
  }

  shared<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.with(key, 's', fn);
  }

  private async with<T>(key: string, mode: 'x' | 's', fn: () => Promise<T>): Promise<T> {
    await this.acquire(key, mode);
    try {
      return await fn();
    } finally {
      this.release(key, mode);
    }
  }

  private state(key: string): LockState {
    let s = this.states.get(key);
    if (!s) this.states.set(key, (s = { readers: 0, writer: false, queue: [] }));
    return s;
  }

  private acquire(key: string, mode: 'x' | 's'): Promise<void> {
    const s = this.state(key);
    if (s.queue.length === 0 && this.grantable(s, mode)) {
      this.take(s, mode);
      return Promise.resolve();
    }
    return new Promise((resolve) => s.queue.push({ mode, wake: resolve }));
  }

  private grantable(s: LockState, mode: 'x' | 's'): boolean {
    return mode === 'x' ? !s.writer && s.readers === 0 : !s.writer;
  }

  private take(s: LockState, mode: 'x' | 's'): void {
    if (mode === 'x') s.writer = true;
    else s.readers++;
  }

  private release(key: string, mode: 'x' | 's'): void {
    const s = this.state(key);
    if (mode === 'x') s.writer = false;
    else s.readers--;
    while (s.queue.length && this.grantable(s, s.queue[0]!.mode)) {
      const w = s.queue.shift()!;
      this.take(s, w.mode);
      w.wake();
    }
    if (!s.writer && s.readers === 0 && s.queue.length === 0) this.states.delete(key);
  }
}
