/** The fields every line carries or that the human line shows in its own place. */
const PLACED = new Set(['time', 'level', 'pid', 'hostname', 'component', 'instance', 'msg', 'err']);

/**
 * One log record (pino's object, redacted) as a person reads it at a terminal:
 * `HH:MM:SS LEVEL component/instance message key=value` (docs/observability.md).
 */
export function humanLine(record: Readonly<Record<string, unknown>>): string {
  const time = typeof record.time === 'string' ? new Date(record.time) : new Date();
  const clock = [time.getHours(), time.getMinutes(), time.getSeconds()]
    .map((part) => String(part).padStart(2, '0'))
    .join(':');
  const level = String(record.level ?? 'info')
    .toUpperCase()
    .padEnd(5);
  const source = [record.component, record.instance].filter((part) => part !== undefined).join('/');
  const message = typeof record.msg === 'string' && record.msg !== '' ? record.msg : errorMessage(record.err);
  const fields = Object.entries(record)
    .filter(([key, value]) => !PLACED.has(key) && value !== undefined && typeof value !== 'object')
    .map(([key, value]) => `${key}=${formatValue(value)}`);
  return [clock, level, source, message, ...fields].filter((part) => part !== '').join(' ');
}

function errorMessage(err: unknown): string {
  return typeof err === 'object' && err !== null && 'message' in err ? String(err.message) : '';
}

// A value with a space is quoted, so that `key=value` pairs stay apart.
function formatValue(value: unknown): string {
  const text = String(value);
  return /[\s"]/.test(text) ? JSON.stringify(text) : text;
}
