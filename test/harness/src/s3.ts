import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.js';
import { scratchDir } from './scratch-dir.js';
import { type RunningServer, startServer } from './server-process.js';

export interface S3Server extends RunningServer {
  /** `http://127.0.0.1:PORT`, for AWS_ENDPOINT_URL. */
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** The AWS_* variables a child process needs to reach this server. */
  readonly env: Record<string, string>;
}

export interface S3Options {
  /** Buckets created at startup. */
  readonly buckets?: readonly string[];
  /** Where objects are kept; a new temp dir (removed on stop) when omitted. */
  readonly dir?: string;
}

// s3rver's fixed credentials.
const ACCESS_KEY_ID = 'S3RVER';
const SECRET_ACCESS_KEY = 'S3RVER';
const REGION = 'us-east-1';

/**
 * Starts s3rver (an S3-compatible server) as its own process on 127.0.0.1.
 * It needs the OpenSSL legacy provider: it hashes list continuation tokens with an
 * algorithm OpenSSL 3 disables, and answers every truncated listing with HTTP 500
 * without it. It runs through `s3rver-main`, which mends a crash of s3rver's.
 */
export async function startS3(options: S3Options = {}): Promise<S3Server> {
  const scratch = options.dir === undefined ? await scratchDir('s3') : undefined;
  const dir = options.dir ?? scratch!.path;
  const script = fileURLToPath(launcher());
  const bucketArgs = (options.buckets ?? []).flatMap((bucket) => ['--configure-bucket', bucket]);

  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    try {
      const server = await startServer({
        command: process.execPath,
        args: [
          script,
          '--address',
          '127.0.0.1',
          '--port',
          String(port),
          '--directory',
          join(dir, 'data'),
          '--silent',
          ...bucketArgs,
        ],
        spawnOptions: { env: { ...process.env, NODE_OPTIONS: '--openssl-legacy-provider' } },
        logFile: join(dir, 's3rver.log'),
        isReady: async () => (await fetch(endpoint)).status < 500,
      });
      return {
        pid: server.pid,
        host: '127.0.0.1',
        port,
        endpoint,
        region: REGION,
        accessKeyId: ACCESS_KEY_ID,
        secretAccessKey: SECRET_ACCESS_KEY,
        env: {
          AWS_ENDPOINT_URL: endpoint,
          AWS_REGION: REGION,
          AWS_ACCESS_KEY_ID: ACCESS_KEY_ID,
          AWS_SECRET_ACCESS_KEY: SECRET_ACCESS_KEY,
        },
        stop: async () => {
          await server.stop();
          await scratch?.remove();
        },
      };
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }
}

/** The compiled launcher; this package's own tests run from sources, beside no `.js`. */
function launcher(): URL {
  const here = new URL('./s3rver-main.js', import.meta.url);
  if (!import.meta.url.endsWith('.ts')) return here;
  return new URL(here.href.replace('/src/', '/dist/'));
}
