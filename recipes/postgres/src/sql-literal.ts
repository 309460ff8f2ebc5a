/** A value as an SQL string literal (standard_conforming_strings: only `'` is special). */
export function sqlLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
