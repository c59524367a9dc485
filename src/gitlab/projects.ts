// The one gate every job passes: the project a hook names, as the API shows it to the bot's token.
// A payload proves only that its sender knows the secret, so the project is looked up by id, and a hook for a
// project the token cannot see, or one outside ALLOWED_PROJECTS, is dropped here (one log line, no note, no retry).
import type { GitLabClient, ProjectInfo } from './client.js';
import { PermanentError } from '../jobs/retry.js';
import { GitLabError } from './requester.js';

export type ProjectAccess = { ok: true; project: ProjectInfo } | { ok: false; reason: string };

export interface ProjectsOptions {
  gitlab: Pick<GitLabClient, 'project'>;
  /** ALLOWED_PROJECTS: ids or path_with_namespace values; empty or absent = all */
  allowed?: string[];
  /** how long an answer (either way) is reused; hooks come in bursts */
  ttlMs?: number;
  now?: () => number;
}

export class Projects {
  private cache = new Map<number, { at: number; access: ProjectAccess }>();
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(private readonly o: ProjectsOptions) {
    this.ttlMs = o.ttlMs ?? 60_000;
    this.now = o.now ?? Date.now;
  }

  /** Throws only what can heal (GitLab down, 5xx, 429); "not found" and "forbidden" are answers. */
  async access(id: number): Promise<ProjectAccess> {
    const hit = this.cache.get(id);
    if (hit && this.now() - hit.at < this.ttlMs) return hit.access;
    const access = await this.lookup(id);
    this.cache.set(id, { at: this.now(), access });
    if (this.cache.size > 10_000) this.cache.delete(this.cache.keys().next().value!);
    return access;
  }

  /** The API's clone URL (http_url_to_repo); a project the bot may not use is a permanent error. */
  async cloneUrl(id: number): Promise<string> {
    const a = await this.access(id);
    if (!a.ok) throw new PermanentError(a.reason);
    return a.project.httpUrl;
  }

  private async lookup(id: number): Promise<ProjectAccess> {
    let project: ProjectInfo;
    try {
      project = await this.o.gitlab.project(id);
    } catch (e) {
      if (e instanceof GitLabError && (e.status === 404 || e.status === 403 || e.status === 401)) {
        return { ok: false, reason: `project ${id} is not reachable with the bot's token (GitLab answered ${e.status})` };
      }
      throw e;
    }
    // GitLab resolves a numeric id to that project; anything else would be a proxy or a bug, not a project.
    if (project.id !== id) return { ok: false, reason: `GitLab answered project ${project.id} for id ${id}` };
    const allowed = this.o.allowed ?? [];
    if (allowed.length && !allowed.includes(project.path) && !allowed.includes(String(project.id))) {
      return { ok: false, reason: `project ${project.path} (${project.id}) is not in ALLOWED_PROJECTS` };
    }
    return { ok: true, project };
  }
}
