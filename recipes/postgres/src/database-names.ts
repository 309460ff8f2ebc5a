/**
 * A database name as one safe path segment: percent-encoded, dots included, so names
 * like `..` or `a/b` become plain file names and decode back exactly.
 */
export function encodeDatabaseName(name: string): string {
  return encodeURIComponent(name).replace(
    /[.!'()*~]/g,
    (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

export function decodeDatabaseName(segment: string): string {
  return decodeURIComponent(segment);
}
