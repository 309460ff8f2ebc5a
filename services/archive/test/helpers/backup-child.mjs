// Runs one backup in its own process, so a test can kill -9 it midway.
// argv: archive dir, key file, source dir
import { backupTree, openArchive } from '../../dist/index.js';

const [archiveDir, keyFile, source] = process.argv.slice(2);
const archive = await openArchive({ archive: archiveDir, keyFile });
process.stdout.write('started\n');
const snapshot = await backupTree(archive, source, { tags: { component: 'crash' } });
process.stdout.write(`done ${snapshot.id}\n`);
