/**
 * Groups the backend manages: a user's server-side group memberships, kept by the backend (cluster-wide
 * on a shared one). A connection's groups are its token's `groups` claim (or development mode's `?group=`)
 * plus its user's server-side groups; a change reaches the user's live connections on every node without
 * a reconnect, and every later connection.
 */

/** Most server-side groups one user may have. */
export const MAX_USER_GROUPS = 256;

/** The port: a backend's store of server-side memberships, and the announcement of their changes. */
export interface GroupStore {
  /** The user's server-side groups, sorted (none for a user never seen: unknown users are fine). */
  of(userId: string): Promise<readonly string[]>;
  /** The same without I/O, when the store is in this process (memory, SQLite); absent otherwise. */
  readonly known?: (userId: string) => readonly string[];
  /**
   * Replaces the user's groups with `groups`; resolves with them (sorted) once stored and applied to the
   * user's live connections — on every node, in log order on a shared log, so a message published after
   * the answer reaches the new members.
   */
  replace(userId: string, groups: readonly string[]): Promise<readonly string[]>;
  /** Adds and removes groups (a group in both is removed); resolves as `replace`. */
  change(userId: string, add: readonly string[], remove: readonly string[]): Promise<readonly string[]>;
}

/** The groups after adding `add` to and removing `remove` from `current`, sorted and distinct. */
export function changedGroups(
  current: readonly string[],
  add: readonly string[],
  remove: readonly string[],
): string[] {
  const groups = new Set([...current, ...add]);
  for (const group of remove) groups.delete(group);
  return [...groups].sort();
}

/** `groups` sorted and distinct: how stores keep and answer them. */
export function normalGroups(groups: readonly string[]): string[] {
  return [...new Set(groups)].sort();
}

/** Where a backend keeps server-side memberships; each change is atomic and answers the groups after it. */
export interface GroupTables {
  of(userId: string): Promise<readonly string[]>;
  /** `of` without I/O, for tables in this process. */
  readonly ofNow?: (userId: string) => readonly string[];
  replace(userId: string, groups: readonly string[]): Promise<readonly string[]>;
  change(userId: string, add: readonly string[], remove: readonly string[]): Promise<readonly string[]>;
}

/**
 * The group store over a backend's tables: a change is stored, then announced (`announce` resolves once
 * every node will apply it before any later message: at once on one node, through the log on a cluster).
 */
export class AnnouncedGroups implements GroupStore {
  readonly known?: (userId: string) => readonly string[];

  constructor(
    private readonly tables: GroupTables,
    private readonly announce: (userId: string, groups: readonly string[]) => Promise<void>,
  ) {
    if (tables.ofNow !== undefined) this.known = tables.ofNow;
  }

  of(userId: string): Promise<readonly string[]> {
    return this.tables.of(userId);
  }

  async replace(userId: string, groups: readonly string[]): Promise<readonly string[]> {
    const after = await this.tables.replace(userId, normalGroups(groups));
    await this.announce(userId, after);
    return after;
  }

  async change(
    userId: string,
    add: readonly string[],
    remove: readonly string[],
  ): Promise<readonly string[]> {
    const after = await this.tables.change(userId, add, remove);
    await this.announce(userId, after);
    return after;
  }
}
