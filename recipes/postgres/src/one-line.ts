/** A tool's multi-line output as one line for an error message, at most `max` characters from its end. */
export function oneLine(text: string, max = 400): string {
  const line = text
    .split('\n')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .join('; ');
  return line.length > max ? `...${line.slice(-max)}` : line;
}
