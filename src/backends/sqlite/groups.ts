import { changedGroups, type GroupTables, normalGroups } from '../../core/groups.js';
import type { Database, Statement } from './driver.js';

/** Server-side groups in the log's SQLite file: durable, one row per membership. */
export class SqliteGroupTables implements GroupTables {
  private readonly select: Statement<[string], string>;
  private readonly clear: Statement<[string]>;
  private readonly insert: Statement<[string, string]>;

  constructor(private readonly db: Database) {
    db.exec(`CREATE TABLE IF NOT EXISTS user_groups (
      user TEXT NOT NULL, grp TEXT NOT NULL, PRIMARY KEY (user, grp)
    ) WITHOUT ROWID`);
    this.select = db
      .prepare<[string], string>('SELECT grp FROM user_groups WHERE user = ? ORDER BY grp')
      .pluck();
    this.clear = db.prepare('DELETE FROM user_groups WHERE user = ?');
    this.insert = db.prepare('INSERT OR IGNORE INTO user_groups (user, grp) VALUES (?, ?)');
  }

  readonly ofNow = (userId: string): readonly string[] => this.select.all(userId);

  async of(userId: string): Promise<readonly string[]> {
    return this.ofNow(userId);
  }

  async replace(userId: string, groups: readonly string[]): Promise<readonly string[]> {
    return this.write(userId, () => normalGroups(groups));
  }

  async change(
    userId: string,
    add: readonly string[],
    remove: readonly string[],
  ): Promise<readonly string[]> {
    return this.write(userId, (current) => changedGroups(current, add, remove));
  }

  /** Reads, changes and writes one user's groups in one transaction. */
  private write(userId: string, next: (current: readonly string[]) => string[]): readonly string[] {
    return this.db.transaction(() => {
      const groups = next(this.select.all(userId));
      this.clear.run(userId);
      for (const group of groups) this.insert.run(userId, group);
      return groups;
    })();
  }
}
