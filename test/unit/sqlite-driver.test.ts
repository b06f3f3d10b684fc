import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { driverPackage, sqliteDriver } from '../../src/backends/sqlite/driver.js';

const require = createRequire(import.meta.url);
const nodeMajor = Number(process.versions.node.split('.')[0]);

describe('SQLite driver', () => {
  it('loads the better-sqlite3 line this Node runs: 12.x on Node 20, 13.x from Node 22', () => {
    const { version } = require(`${driverPackage}/package.json`) as { version: string };
    assert.equal(version.split('.')[0], nodeMajor >= 22 ? '13' : '12');
    const Driver = sqliteDriver();
    const db = new Driver(':memory:');
    assert.equal(db.prepare('SELECT 1 + 1').pluck().get(), 2);
    db.close();
  });
});
