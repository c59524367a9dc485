// The learnings repository: a project's learnings in one record of the bot's store (`learnings:<project id>`), so a
// review reads them in one get. SQLite by default, Redis in scale-out (the same Store), so they survive restarts and
// every replica sees the same ones; changes run under the store's record lock.
import { shortHash } from '../gitlab/markers.js';
import { MAX_PER_PROJECT, type Learning } from '../review/learnings.js';
import type { Store } from './store.js';
import { recordKey, recordPrefix } from '../keys.js';

interface ProjectLearnings {
  projectId: number;
  items: Learning[];
}

const key = recordKey.learnings;

/** A short id, stable for its source: the same note makes the same id however often its job is retried. */
export function learningId(pid: number, source: string, taken: ReadonlySet<string> = new Set()): string {
  for (let i = 0; ; i++) {
    const id = shortHash(`${pid}\0${source}${i ? `\0${i}` : ''}`, 8);
    if (!taken.has(id)) return id;
  }
}

export type NewLearning = Omit<Learning, 'id' | 'createdAt'> & Partial<Pick<Learning, 'id' | 'createdAt'>>;

export class LearningsRepo {
  constructor(private readonly store: Store) {}

  async list(pid: number): Promise<Learning[]> {
    return (await this.store.kv.get<ProjectLearnings>(key(pid)))?.items ?? [];
  }

  /** Every project's learnings, in one scan (the status page). */
  async all(): Promise<Map<number, Learning[]>> {
    const out = new Map<number, Learning[]>();
    for (const r of await this.store.scan<ProjectLearnings>(recordPrefix.learnings)) if (r.items.length) out.set(r.projectId, r.items);
    return out;
  }

  /**
   * Add one; a learning from the same source (a retried job) is returned as it is, not added twice. The oldest goes
   * when the project is at MAX_PER_PROJECT.
   */
  async add(pid: number, l: NewLearning): Promise<Learning> {
    return this.change(pid, (items) => {
      const same = items.find((x) => x.source === l.source);
      if (same) return { items, result: same };
      const id = l.id && !items.some((x) => x.id === l.id) ? l.id : learningId(pid, l.source, new Set(items.map((x) => x.id)));
      const made: Learning = { ...l, id, createdAt: l.createdAt ?? new Date().toISOString() };
      const kept = [...items, made].sort((a, b) => a.createdAt.localeCompare(b.createdAt)).slice(-MAX_PER_PROJECT);
      return { items: kept, result: made };
    });
  }

  /** Remove one by id; returns it, or undefined when there was none. */
  async remove(pid: number, id: string): Promise<Learning | undefined> {
    return this.change(pid, (items) => {
      const gone = items.find((x) => x.id === id.toLowerCase());
      return { items: gone ? items.filter((x) => x !== gone) : items, result: gone };
    });
  }

  /** Put a whole set (an import): with `replace`, learnings not in `ls` are removed; otherwise same ids are updated. */
  async importMany(pid: number, ls: Learning[], replace: boolean): Promise<{ added: number; updated: number; removed: number }> {
    return this.change(pid, (items) => {
      const byId = new Map(items.map((x) => [x.id, x]));
      const incoming = new Set(ls.map((x) => x.id));
      const added = ls.filter((x) => !byId.has(x.id)).length;
      const updated = ls.length - added;
      const kept = replace ? [] : items.filter((x) => !incoming.has(x.id));
      const removed = replace ? items.filter((x) => !incoming.has(x.id)).length : 0;
      const next = [...kept, ...ls].sort((a, b) => a.createdAt.localeCompare(b.createdAt)).slice(-MAX_PER_PROJECT);
      return { items: next, result: { added, updated, removed } };
    });
  }

  private change<T>(pid: number, fn: (items: Learning[]) => { items: Learning[]; result: T }): Promise<T> {
    return this.store.exclusive(key(pid), async () => {
      const { items, result } = fn(await this.list(pid));
      if (items.length) await this.store.kv.set(key(pid), { projectId: pid, items } satisfies ProjectLearnings);
      else await this.store.kv.delete(key(pid));
      return result;
    });
  }
}
