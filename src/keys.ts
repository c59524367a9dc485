// Every key format in one place: store records, job lanes and dedupe keys, lock names, Redis keys. A key written
// here is read back by another process (a restart, another replica), so a format change is a migration.
// (The markers in posted notes are GitLab-side and live in gitlab/markers.ts.)

/** Store records (keyv, namespace `mrr`). An MR's record and its lane share a name on purpose. */
export const recordKey = {
  mr: (pid: number, iid: number) => `mr:${pid}:${iid}`,
  thread: (pid: number, iid: number, did: string) => `thread:${pid}:${iid}:${did}`,
  /** a user's questions on an MR on one UTC day (YYYY-MM-DD) */
  questions: (pid: number, iid: number, userId: number, day: string) => `questions:${pid}:${iid}:${userId}:${day}`,
  failure: (at: string, jobId: string) => `failure:${at}:${jobId}`,
  /** a project's team learnings (one record per project) */
  learnings: (pid: number) => `learnings:${pid}`,
};

/** Key prefixes that select records by kind (scans and counts). */
export const recordPrefix = {
  mr: 'mr:',
  failure: 'failure:',
  learnings: 'learnings:',
  /** every thread, or one MR's */
  thread: (pid?: number, iid?: number) => (pid === undefined ? 'thread:' : `thread:${pid}:${iid}:`),
};

/** Job lanes (JobSpec.orderKey): one job at a time per MR trunk, and per discussion thread. */
export const lane = {
  mr: (pid: number, iid: number) => `mr:${pid}:${iid}`,
  thread: (pid: number, iid: number, did: string) => `thread:${pid}:${iid}:${did}`,
};

/** Dedupe keys (JobSpec.dedupeKeys): a job whose key was seen within the window is a duplicate. */
export const dedupeKey = {
  delivery: (deliveryKey: string) => `delivery:${deliveryKey}`,
  /** an MR reviewed at one head commit */
  head: (pid: number, iid: number, sha: string) => `head:${pid}:${iid}:${sha}`,
  /** "marked ready" at one head: the draft's own event at that head was seen (and skipped) already */
  ready: (pid: number, iid: number, sha: string) => `ready:${pid}:${iid}:${sha}`,
  /** a note; an edit counts again only with other text (bodyHash) */
  note: (noteId: number, bodyHash?: string) => (bodyHash === undefined ? `note:${noteId}` : `note:${noteId}:${bodyHash}`),
  /** the review a `review` command queues */
  command: (noteId: number) => `cmd:${noteId}`,
  /** the failure note for a job that gave up */
  notify: (jobId: string) => `notify:${jobId}`,
  /** the one live trunk review that threads wait for (AwaitJob) */
  trunk: (pid: number, iid: number) => `trunk:${pid}:${iid}`,
};

/** Lock names (SessionLocks). A session is locked under its own id. */
export const lockKey = {
  /** a project's mirror and its worktrees */
  repo: (pid: number) => `repo:${pid}`,
  /** a store record's read-modify-write across replicas */
  record: (key: string) => `record:${key}`,
};

/** Keys in Redis, each under REDIS_PREFIX (one per deployment or test sharing a Redis). */
export const redisKey = {
  /** a session's transcript, copied between replicas */
  session: (prefix: string, sessionId: string) => `${prefix}:session:${sessionId}`,
  /** a lock's keys start with this */
  lock: (prefix: string, name: string) => `${prefix}:lock:${name}`,
  /** the job queue's own keys, next to BullMQ's `<prefix>:<queue>:*` */
  queue: (prefix: string, queue: string, ...parts: string[]) => [prefix, queue, 'mrr', ...parts].join(':'),
};
