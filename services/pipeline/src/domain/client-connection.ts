/** What a client connection string needs of an instance. */
export interface ClientEndpoint {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly priority: number;
}

/**
 * A libpq multi-host URI naming every instance of a component, the active first, then
 * the fallbacks by priority (higher first) and name, with
 * `target_session_attrs=read-write`: libpq tries them in order and keeps the first that
 * takes writes, so a client given it follows an activation by reconnecting
 * (docs/election.md "Clients follow"). The database is `postgres`; clients put their own.
 */
export function readWriteConnectionString(
  instances: readonly ClientEndpoint[],
  active: string | undefined,
): string | undefined {
  if (instances.length === 0) return undefined;
  const ordered = [...instances].sort(
    (a, b) =>
      Number(b.name === active) - Number(a.name === active) ||
      b.priority - a.priority ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  const hosts = ordered.map((instance) => `${uriHost(instance.host)}:${instance.port}`).join(',');
  return `postgresql://${hosts}/postgres?target_session_attrs=read-write`;
}

/** An IPv6 address goes in brackets; anything else is percent-encoded (a socket directory's slashes). */
function uriHost(host: string): string {
  return host.includes(':') ? `[${host}]` : encodeURIComponent(host);
}
