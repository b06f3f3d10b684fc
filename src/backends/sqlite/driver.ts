import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import { StartupError } from '../../errors.js';

/**
 * The better-sqlite3 line this Node can run: 12.x on Node 20, where 13.x crashes on load; 13.x (installed
 * as the alias `better-sqlite3-13`) from Node 22, its minimum. 12.x is built on `node::ObjectWrap`, whose
 * destructor on Node 24 aborts the process (`Assertion failed: (env) != nullptr`) when a statement is
 * collected after its environment is gone, at exit or during teardown; 13.x is built on node-addon-api.
 * Both have the same API, so the log sees one type.
 */
const nodeMajor = Number(process.versions.node.split('.')[0]);
export const driverPackage = nodeMajor >= 22 ? 'better-sqlite3-13' : 'better-sqlite3';

export type Database = BetterSqlite3.Database;
export type Statement<P extends unknown[] = unknown[], R = unknown> = BetterSqlite3.Statement<P, R>;

let driver: typeof BetterSqlite3 | undefined;

/**
 * Loads the driver on first use: a node on the memory or Redis log never loads native SQLite code, and
 * one whose driver failed to install (both are optional dependencies) says so when `--log sqlite:` asks.
 */
export function sqliteDriver(): typeof BetterSqlite3 {
  if (driver === undefined) {
    try {
      driver = createRequire(import.meta.url)(driverPackage) as typeof BetterSqlite3;
    } catch (error) {
      throw new StartupError(
        `the SQLite driver ${driverPackage} (for Node ${nodeMajor}) is not installed: ${(error as Error).message}`,
      );
    }
  }
  return driver;
}
