import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { directoryBytes } from './system.js';
import { type Cost, timed } from './timed.js';

const cli = fileURLToPath(new URL('../../../../bin/pullback.js', import.meta.url));

/** Pullback driven through its command line, as a user runs it, one process per command. */
export class PullbackCli {
  protected readonly archive: string;
  protected readonly keyFile: string;
  readonly snapshots: string[] = [];
  /** The highest peak RSS of any Pullback process so far. */
  peakRssMB = 0;

  constructor(root: string) {
    this.archive = join(root, 'archive');
    this.keyFile = join(root, 'archive.key');
  }

  async init(): Promise<void> {
    await this.run(['archive', 'init', '--archive', this.archive, '--key-file', this.keyFile]);
  }

  /** Backs up `path`; returns the cost and the bytes the archive grew by. */
  async backup(path: string, exclude: readonly string[] = []): Promise<Cost & { storedBytes: number }> {
    const before = await directoryBytes(this.archive);
    const cost = await this.run([
      'backup',
      'files',
      path,
      '--archive',
      this.archive,
      '--key-file',
      this.keyFile,
      '--json',
      ...exclude.flatMap((pattern) => ['--exclude', pattern]),
    ]);
    const { id } = JSON.parse(cost.stdout) as { id: string };
    this.snapshots.push(id);
    return { ...cost, storedBytes: (await directoryBytes(this.archive)) - before };
  }

  /**
   * Restores snapshot `index` (default: the one made last) into `target`, by id: the
   * archive holds two histories (the data directory and the tree), so `latest` alone
   * is refused as ambiguous.
   */
  async restore(target: string, options: { index?: number; delta?: boolean } = {}): Promise<Cost> {
    const id = this.snapshots.at(options.index ?? -1);
    if (id === undefined) throw new Error('no snapshot to restore yet');
    return this.run([
      'restore',
      id,
      '--archive',
      this.archive,
      '--key-file',
      this.keyFile,
      '--target',
      target,
      ...(options.delta ? ['--delta'] : []),
    ]);
  }

  protected async run(args: readonly string[]): Promise<Cost & { stdout: string }> {
    // Run as users do (`npx pullback`): the bin's shebang sets Node's flags.
    const cost = await timed(cli, args, { ...process.env, CI: 'true' });
    this.peakRssMB = Math.max(this.peakRssMB, cost.peakRssMB);
    return cost;
  }
}
