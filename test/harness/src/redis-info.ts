import { createConnection } from 'node:net';

/** The text of `INFO <section>` from the Redis server or sentinel on 127.0.0.1:`port`. */
export function redisInfo(port: number, section: string, password?: string): Promise<string> {
  return redisText(port, `INFO ${section}`, password);
}

/**
 * The reply to `command` (one that answers with text, `INFO`, `CLIENT LIST`, or a status, `OK`) from the
 * Redis server or sentinel on 127.0.0.1:`port` (after AUTH, with `password`). Rejects
 * on a refused AUTH, an error reply or an unreachable port.
 */
export function redisText(port: number, command: string, password?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const auth = password === undefined ? '' : `AUTH ${password}\r\n`;
    const socket = createConnection({ host: '127.0.0.1', port }, () => socket.write(`${auth}${command}\r\n`));
    let reply = Buffer.alloc(0);
    let authAnswered = auth === '';
    const fail = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.on('data', (data: Buffer) => {
      reply = Buffer.concat([reply, data]);
      if (!authAnswered) {
        const end = reply.indexOf('\r\n');
        if (end < 0) return;
        const line = reply.subarray(0, end).toString();
        if (line !== '+OK') return fail(new Error(`redis on port ${port} refused AUTH: ${line}`));
        reply = reply.subarray(end + 2);
        authAnswered = true;
      }
      const headerEnd = reply.indexOf('\r\n');
      if (headerEnd < 0) return;
      const header = reply.subarray(0, headerEnd).toString();
      if (header.startsWith('+')) {
        socket.destroy();
        return resolve(header.slice(1));
      }
      if (!header.startsWith('$')) return fail(new Error(`redis on port ${port}: ${header}`));
      const length = Number(header.slice(1));
      // The bulk reply is complete once its announced bytes and the closing CRLF are in.
      if (reply.length < headerEnd + 2 + length + 2) return;
      socket.destroy();
      resolve(reply.subarray(headerEnd + 2, headerEnd + 2 + length).toString());
    });
    socket.once('error', reject);
  });
}

/** The `field:value` lines of an INFO reply as a map. */
export function infoFields(info: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of info.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return fields;
}
