import type { Redis } from '../../src/index.js';

/** Commands that change data, scripts included (they may). */
const WRITES = new Set(['hset', 'hsetnx', 'hdel', 'set', 'del', 'evalsha', 'eval']);

/**
 * Has `connection` run `competing` (through another connection) once, just before
 * it sends its first write: where a read-then-write step is exposed, having read
 * and decided but not written. An atomic step (one script) has read nothing by then,
 * so it decides on what `competing` wrote. A fault-injecting wrapper, not a mock:
 * every command still goes to the real redis-server. Returns the undo.
 */
export function beforeFirstWrite(connection: Redis, competing: () => Promise<unknown>): () => void {
  const send = connection.sendCommand.bind(connection);
  let fired = false;
  const hooked = ((command: Parameters<Redis['sendCommand']>[0], ...rest: unknown[]) => {
    if (fired || !WRITES.has(command.name.toLowerCase())) return send(command, ...(rest as []));
    fired = true;
    return competing().then(() => send(command, ...(rest as [])));
  }) as Redis['sendCommand'];
  connection.sendCommand = hooked;
  return () => {
    connection.sendCommand = send;
  };
}
