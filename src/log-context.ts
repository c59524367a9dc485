// Fields that every log line of a job should carry but that are only known deep inside it (the session id).
// A mutable per-job object in AsyncLocalStorage: Sessions sets the id once chosen, the logger's mixin reads it,
// so lines logged afterwards anywhere in the job carry it without threading a logger through every call.
import { AsyncLocalStorage } from 'node:async_hooks';

interface JobLogContext {
  sessionId?: string;
}

const storage = new AsyncLocalStorage<JobLogContext>();

export function withJobLogContext<T>(fn: () => Promise<T>): Promise<T> {
  return storage.run({}, fn);
}

/** The session the current job is talking to now (a reply job may review first, then fork). */
export function setLogSession(sessionId: string): void {
  const ctx = storage.getStore();
  if (ctx) ctx.sessionId = sessionId;
}

/** pino mixin: extra fields for the current line. */
export function logContextFields(): Record<string, string> {
  const id = storage.getStore()?.sessionId;
  return id ? { sessionId: id } : {};
}
