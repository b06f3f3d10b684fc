import { changedGroups, type GroupTables, normalGroups } from '../../core/groups.js';

const NONE: readonly string[] = Object.freeze([]);

/** Server-side groups in this process (lost on restart, like the rest of the memory backend). */
export class MemoryGroupTables implements GroupTables {
  private readonly byUser = new Map<string, readonly string[]>();
  readonly ofNow = (userId: string): readonly string[] => this.byUser.get(userId) ?? NONE;

  async of(userId: string): Promise<readonly string[]> {
    return this.ofNow(userId);
  }

  async replace(userId: string, groups: readonly string[]): Promise<readonly string[]> {
    return this.set(userId, normalGroups(groups));
  }

  async change(
    userId: string,
    add: readonly string[],
    remove: readonly string[],
  ): Promise<readonly string[]> {
    return this.set(userId, changedGroups(this.byUser.get(userId) ?? [], add, remove));
  }

  private set(userId: string, groups: readonly string[]): readonly string[] {
    // A user without groups takes no memory.
    if (groups.length === 0) this.byUser.delete(userId);
    else this.byUser.set(userId, groups);
    return groups;
  }
}
