// Who may ask the bot for what, from GitLab's own roles. The role comes from the API (never from a payload) and is
// cached for a few minutes per replica: a command burst costs one lookup, and a revoked role stops working soon after.
import Keyv from 'keyv';
import type { ProtectedBranchInfo } from './types.js';

/** GitLab's access levels (Gitlab::Access). 0: not a member. */
export const ROLE = { guest: 10, planner: 15, reporter: 20, developer: 30, maintainer: 40, owner: 50 } as const;

const NAMES: [number, string][] = [[50, 'Owner'], [40, 'Maintainer'], [30, 'Developer'], [20, 'Reporter'], [15, 'Planner'], [10, 'Guest'], [5, 'Minimal access']];

export function roleName(level: number): string {
  return NAMES.find(([l]) => level >= l)?.[1] ?? 'not a member';
}

/**
 * Who may do something:
 * - `anyone`: everyone who can comment on the MR;
 * - `member`: any role in the project (Guest and up, inherited from groups too);
 * - `developer`: Developer or higher;
 * - `developer_or_author`: Developer or higher, or the MR's author on their own MR.
 */
export type Requirement = 'anyone' | 'member' | 'developer' | 'developer_or_author';

/** The two GitLab calls access needs (GitLabClient has them). */
export interface AccessSource {
  memberAccessLevel(pid: number, userId: number): Promise<number>;
  protectedBranches(pid: number): Promise<ProtectedBranchInfo[]>;
}

export interface AccessOptions {
  /** how long a looked-up role is trusted; 0 = ask GitLab every time */
  cacheMs: number;
}

export class Access {
  private readonly cache: Keyv<number> | undefined;

  constructor(private readonly gitlab: AccessSource, opts: AccessOptions) {
    this.cache = opts.cacheMs > 0 ? new Keyv<number>({ ttl: opts.cacheMs }) : undefined;
  }

  /** The user's role in the project (API project id), 0 when not a member. Errors other than 404 propagate: never guess. */
  async level(pid: number, userId: number): Promise<number> {
    const key = `${pid}:${userId}`;
    const hit = await this.cache?.get(key);
    if (hit !== undefined) return hit;
    const level = await this.gitlab.memberAccessLevel(pid, userId);
    await this.cache?.set(key, level);
    return level;
  }

  /** Whether the user meets `need` in the project; `mrAuthorId` is the MR's author as the API gave it. */
  async meets(pid: number, userId: number, need: Requirement, mrAuthorId?: number): Promise<boolean> {
    if (need === 'anyone') return true;
    if (need === 'developer_or_author' && mrAuthorId !== undefined && userId === mrAuthorId) return true;
    const level = await this.level(pid, userId);
    return need === 'member' ? level >= ROLE.guest : level >= ROLE.developer;
  }

  /**
   * Whether GitLab would let the user push to `branch` (Gitlab::UserAccess#can_push_to_branch?): Developer+, and on a
   * protected branch one push rule of a matching protection names their role or them. Group rules are not resolved
   * (they would need the group's members): they do not grant. Protections are read fresh on every call.
   */
  async canPush(pid: number, userId: number, branch: string): Promise<boolean> {
    const level = await this.level(pid, userId);
    if (level < ROLE.developer) return false;
    const matching = (await this.gitlab.protectedBranches(pid)).filter((b) => protectionMatches(b.name, branch));
    if (!matching.length) return true;
    return matching.flatMap((b) => b.push).some((r) => {
      if (r.userId !== null) return r.userId === userId;
      if (r.groupId !== null) return false;
      // 0 is "No one"; 60 ("Admins") needs an instance admin, which a role cannot show.
      return r.accessLevel !== null && r.accessLevel > 0 && r.accessLevel <= ROLE.owner && level >= r.accessLevel;
    });
  }
}

/** GitLab's protected-branch names: exact, or with `*` matching any run of characters (`/` included). */
export function protectionMatches(name: string, branch: string): boolean {
  if (!name.includes('*')) return name === branch;
  const re = new RegExp(`^${name.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's');
  return re.test(branch);
}
