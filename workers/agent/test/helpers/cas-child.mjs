// A second process writing the same epoch record: node cas-child.mjs <path> <epoch>...
// Prints "ready", waits for a line on stdin (so both processes start together), then
// prints one JSON line per compare-and-set result, in the order given.
import { once } from 'node:events';
import { EpochRecordStore } from '../../dist/index.js';

const [path, ...epochs] = process.argv.slice(2);
const store = new EpochRecordStore(path);
process.stdout.write('ready\n');
await once(process.stdin, 'data');
const results = await Promise.all(
  epochs.map(async (epoch) => ({
    epoch: Number(epoch),
    ...(await store.compareAndSet({ epoch: Number(epoch), active: 'a' })),
  })),
);
for (const result of results) process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
