import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PostgresServer } from '@pullback/harness';
import { PullbackCli } from '../archive/pullback.js';
import { directoryBytes } from '../archive/system.js';
import type { Cost } from '../archive/timed.js';

/**
 * Pullback as a user of the pipeline backs up a database: a config with one postgres
 * component (`bench`) whose active is the bench's server, and `pullback backup bench`
 * (the recipe's export into the outbox, then the pull into the archive), one process
 * per command under GNU time. Restores are PullbackCli's, by snapshot id.
 */
export class PullbackComponent extends PullbackCli {
  private readonly configPath: string;

  /** `ownBackup`: the export agent's own incremental backup (docs/exports.md) instead of pg_basebackup. */
  constructor(
    private readonly root: string,
    private readonly ownBackup = true,
  ) {
    super(root);
    this.configPath = join(root, 'pullback.yaml');
  }

  async initFor(server: PostgresServer): Promise<void> {
    await writeFile(
      this.configPath,
      [
        // `backup` needs no Redis; the config's contract still names one.
        'redis: redis://127.0.0.1:1',
        `archive: { url: ${this.archive}, keyFile: ${this.keyFile} }`,
        `stateDir: ${join(this.root, 'state')}`,
        'components:',
        '  bench:',
        '    recipe: postgres',
        `    physical: { ownBackup: ${String(this.ownBackup)} }`,
        `    outbox: ${join(this.root, 'outbox')}`,
        '    instances:',
        `      - { name: bench-a, role: active, host: 127.0.0.1, port: ${server.port}, dataDir: ${server.dataDir}, priority: 100 }`,
        '',
      ].join('\n'),
    );
    await this.init();
  }

  /** `pullback backup bench`; the cost and the bytes the archive grew by. */
  async backupComponent(): Promise<Cost & { storedBytes: number }> {
    const before = await directoryBytes(this.archive);
    const cost = await this.run(['backup', 'bench', '--config', this.configPath]);
    const id = /snapshot ([0-9a-f]+) of bench/.exec(cost.stdout)?.[1];
    if (id === undefined) throw new Error(`pullback backup printed no snapshot id: ${cost.stdout}`);
    this.snapshots.push(id);
    return { ...cost, storedBytes: (await directoryBytes(this.archive)) - before };
  }
}
