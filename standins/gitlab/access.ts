/**
 * Members and protected branches, as GitLab has them:
 * - `GET /projects/:id/members/all/:user_id` (API::Members, `find_all_members`): direct project members plus members
 *   of every ancestor group; a user in several of them is shown once, with the highest access level. 404 otherwise.
 * - `GET /projects/:id/protected_branches/:name` (API::ProtectedBranches): `find_by!(name:)`, so it finds a protection
 *   by its exact name (which may be a wildcard such as `release/*`), never the branches a wildcard covers.
 */
import { HttpError } from './body.js';
import type { ProjectRec, World } from './model.js';

export const ACCESS_LEVELS = { noAccess: 0, minimal: 5, guest: 10, planner: 15, reporter: 20, developer: 30, maintainer: 40, owner: 50, admin: 60 } as const;

/** One entry of push_access_levels / merge_access_levels: a role, or (Premium) one user. */
export interface AccessRuleRec { id: number; accessLevel?: number; userId?: number }
export interface ProtectedBranchRec { id: number; name: string; push: AccessRuleRec[]; merge: AccessRuleRec[]; allowForcePush: boolean }

export interface MemberRec { level: number; createdAt: string }

const ROLE_DESCRIPTION: Record<number, string> = { 0: 'No one', 30: 'Developers + Maintainers', 40: 'Maintainers', 60: 'Admins' };

/** The namespaces a project inherits members from: `a/b/app` → `a/b`, `a`. */
function ancestorGroups(projectPath: string): string[] {
  const parts = projectPath.split('/').slice(0, -1);
  return parts.map((_, i) => parts.slice(0, parts.length - i).join('/'));
}

/** Highest membership of the user in the project or its ancestor groups (undefined: not a member). */
export function memberOf(world: World, p: ProjectRec, userId: number): MemberRec | undefined {
  const found = [p.members.get(userId), ...ancestorGroups(p.path).map((g) => world.groupMembers.get(g)?.get(userId))].filter((m): m is MemberRec => !!m);
  return found.sort((a, b) => b.level - a.level)[0];
}

export function memberJson(world: World, userId: number, m: MemberRec) {
  return {
    ...world.userBasic(userId), access_level: m.level, created_at: m.createdAt, created_by: null, expires_at: null,
    group_saml_identity: null, membership_state: 'active', locked: false,
  };
}

export function showMember(world: World, p: ProjectRec, userId: number) {
  const m = memberOf(world, p, userId);
  if (!m || !world.users.has(userId)) throw new HttpError(404, { message: '404 Not found' });
  return memberJson(world, userId, m);
}

export function protectedBranchJson(world: World, b: ProtectedBranchRec) {
  const rule = (r: AccessRuleRec) => ({
    id: r.id, access_level: r.accessLevel ?? 40,
    access_level_description: r.userId !== undefined ? world.user(r.userId).name : ROLE_DESCRIPTION[r.accessLevel ?? 40] ?? 'Maintainers',
    deploy_key_id: null, user_id: r.userId ?? null, group_id: null,
  });
  return {
    id: b.id, name: b.name, push_access_levels: b.push.map(rule), merge_access_levels: b.merge.map(rule),
    unprotect_access_levels: [], allow_force_push: b.allowForcePush, code_owner_approval_required: false, inherited: false,
  };
}

export function showProtectedBranch(world: World, p: ProjectRec, name: string) {
  const b = p.protectedBranches.find((x) => x.name === name);
  if (!b) throw new HttpError(404, { message: '404 Not found' });
  return protectedBranchJson(world, b);
}

/** GitLab's protected-branch names: exact, or `*` matching any run of characters. */
export function protects(name: string, branch: string): boolean {
  if (!name.includes('*')) return name === branch;
  return new RegExp(`^${name.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's').test(branch);
}

/**
 * Why GitLab would refuse this user's push to `branch` of `p` (Gitlab::UserAccess#can_push_to_branch?), or undefined:
 * Developer+ in the project, or a member who can merge to the target of an open fork MR from that branch with
 * "allow collaboration"; on a protected branch one push rule must name their role (or them).
 */
export function pushDenial(world: World, p: ProjectRec, userId: number, branch: string): 'project' | 'protected' | undefined {
  const level = memberOf(world, p, userId)?.level ?? 0;
  if (level < ACCESS_LEVELS.developer) {
    const collab = [...world.projects.values()].flatMap((t) => [...t.mrs.values()]).some((m) =>
      m.sourceProject === p && m.sourceBranch === branch && m.state === 'opened' && m.allowCollaboration && (memberOf(world, m.project, userId)?.level ?? 0) >= ACCESS_LEVELS.developer);
    return collab ? undefined : 'project';
  }
  const rules = p.protectedBranches.filter((b) => protects(b.name, branch)).flatMap((b) => b.push);
  if (!rules.length && !p.protectedBranches.some((b) => protects(b.name, branch))) return undefined;
  const ok = rules.some((r) => (r.userId !== undefined ? r.userId === userId : (r.accessLevel ?? 40) > 0 && level >= (r.accessLevel ?? 40)));
  return ok ? undefined : 'protected';
}

/** Whether the user may push to any branch of the project (the info/refs check before a push). */
export function mayPushAtAll(world: World, p: ProjectRec, userId: number): boolean {
  if ((memberOf(world, p, userId)?.level ?? 0) >= ACCESS_LEVELS.developer) return true;
  return [...world.projects.values()].flatMap((t) => [...t.mrs.values()]).some((m) => m.sourceProject === p && m.state === 'opened' && m.allowCollaboration && (memberOf(world, m.project, userId)?.level ?? 0) >= ACCESS_LEVELS.developer);
}
