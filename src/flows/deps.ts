// What every flow receives. Wiring happens once in main.ts; tests hand in stand-ins.
import type { SessionService } from '../claude/session-service.js';
import type { Config } from '../config.js';
import type { EnqueueResult, JobSpec } from '../jobs/queue.js';
import type { Access } from '../gitlab/access.js';
import type { GitLabClient } from '../gitlab/client.js';
import type { BotIdentity } from '../gitlab/identity.js';
import type { Projects } from '../gitlab/projects.js';
import type { Logger } from '../logger.js';
import type { Store } from '../store/store.js';
import type { Workspaces } from '../workspace/workspaces.js';

export interface Deps {
  config: Config;
  gitlab: GitLabClient;
  /** commenters' roles, cached */
  access: Access;
  store: Store;
  /** the MR's Claude sessions: trunk, thread forks, verifier */
  sessions: SessionService;
  workspaces: Workspaces;
  /** the API's view of a project, cached briefly: the gate every job passes */
  projects: Projects;
  /** known before any job runs: the queue starts once GET /user answered */
  bot: BotIdentity;
  log: Logger;
  /** queue a follow-up job (e.g. the `review` command) */
  enqueue: (spec: JobSpec) => Promise<EnqueueResult>;
}
