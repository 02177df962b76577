// SPDX-License-Identifier: Apache-2.0
// The official PowerSync Node.js client (@powersync/node + better-sqlite3, pinned in
// package.json) doing one benchmark task against a running psync-test-service, in a fresh
// process with an empty database file. Run by `cargo xtask bench`, which compares it with the
// psync clients doing the same task (bench/README.md); the same command line as
// `psync-bench-side` (tests/demo) and bench/side.py:
//
//   node bench.mjs sync  <service url> <rows expected> <checkpoint requests>
//   node bench.mjs write <single|transaction|batch> <rows>
//
// Prints one line `RESULT key=value …` on stdout.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { column, PowerSyncDatabase, Schema, Table } from '@powersync/node';

// The test service's built-in config syncs `lists` rows owned by the token's user.
const USER = 'bench-user';
const FIRST_SYNC_TIMEOUT_MS = 900_000;
const INSERT = 'INSERT INTO lists(id, name, owner_id, created_at) VALUES (?, ?, ?, ?)';

const schema = new Schema({
  lists: new Table({ name: column.text, owner_id: column.text, created_at: column.text }),
  todos: new Table({
    list_id: column.text,
    description: column.text,
    completed: column.integer,
    owner_id: column.text,
    created_at: column.text
  }),
  announcements: new Table({ title: column.text, body: column.text, created_at: column.text })
});

class ServiceConnector {
  constructor(url) {
    this.url = url;
  }

  async fetchCredentials() {
    const response = await fetch(`${this.url}/api/auth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user_id: USER })
    });
    if (!response.ok) throw new Error(`token request failed: HTTP ${response.status}`);
    const { token } = await response.json();
    return { endpoint: this.url, token };
  }

  // The sync task makes no local writes; the write task never connects.
  async uploadData() {}
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.round((sorted.length - 1) * p))];
}

/** Peak RSS of the whole process (main thread and the database workers), KiB. */
function peakRssKib() {
  return process.resourceUsage().maxRSS;
}

async function openFresh(folder) {
  const db = new PowerSyncDatabase({
    schema,
    database: { dbFilename: 'bench.db', dbLocation: folder }
  });
  await db.init();
  return db;
}

async function countLists(db) {
  const row = await db.get('SELECT count(*) AS n FROM lists');
  return Number(row.n);
}

/** connect → all rows queryable, then sequential checkpoint requests → synced. */
async function sync(db, url, rows, requests) {
  const started = performance.now();
  await db.connect(new ServiceConnector(url), { checkpointMode: 'requests' });
  await db.waitForFirstSync({ signal: AbortSignal.timeout(FIRST_SYNC_TIMEOUT_MS) });
  const initialSync = (performance.now() - started) / 1000;
  const synced = await countLists(db);
  if (synced !== rows) throw new Error(`synced ${synced} rows, expected ${rows}`);
  const latencies = [];
  for (let n = 0; n < requests; n++) {
    const start = performance.now();
    const request = await db.requestCheckpoint();
    await request.waitForSync({ signal: AbortSignal.timeout(10_000) });
    latencies.push(performance.now() - start);
  }
  latencies.sort((a, b) => a - b);
  const result = { initial_sync_s: initialSync, peak_rss_kib: peakRssKib() };
  if (latencies.length > 0) {
    result.checkpoint_p50_ms = percentile(latencies, 0.5);
    result.checkpoint_p99_ms = percentile(latencies, 0.99);
  }
  await db.disconnect();
  return result;
}

function listRow(i) {
  return [`local-${String(i).padStart(8, '0')}`, `local list ${i}`, USER, '2026-01-01T00:00:00Z'];
}

/** `rows` inserts through the view and its triggers, one of three ways. */
async function write(db, kind, rows) {
  const params = Array.from({ length: rows }, (_, i) => listRow(i));
  const started = performance.now();
  if (kind === 'single') {
    for (const p of params) await db.execute(INSERT, p);
  } else if (kind === 'transaction') {
    await db.writeTransaction(async (tx) => {
      for (const p of params) await tx.execute(INSERT, p);
    });
  } else if (kind === 'batch') {
    await db.executeBatch(INSERT, params);
  } else {
    throw new Error(`unknown write kind ${kind}`);
  }
  const seconds = (performance.now() - started) / 1000;
  const queued = Number((await db.get('SELECT count(*) AS n FROM ps_crud')).n);
  if (queued !== rows) throw new Error(`${queued} upload-queue entries, expected ${rows}`);
  return { seconds, peak_rss_kib: peakRssKib() };
}

async function main(argv) {
  const [task, ...args] = argv;
  const folder = mkdtempSync(join(tmpdir(), 'psync-peer-'));
  const db = await openFresh(folder);
  try {
    if (task === 'sync' && args.length === 3) {
      return await sync(db, args[0], Number(args[1]), Number(args[2]));
    }
    if (task === 'write' && args.length === 2) {
      return await write(db, args[0], Number(args[1]));
    }
    throw new Error('usage: bench.mjs sync <url> <rows> <requests> | write <kind> <rows>');
  } finally {
    await db.close();
    rmSync(folder, { recursive: true, force: true });
  }
}

try {
  const result = await main(process.argv.slice(2));
  const fields = Object.entries(result).map(([key, value]) => `${key}=${value}`);
  console.log(`RESULT ${fields.join(' ')}`);
  process.exit(0);
} catch (error) {
  console.error(`peer bench failed: ${error?.stack ?? error}`);
  process.exit(1);
}
