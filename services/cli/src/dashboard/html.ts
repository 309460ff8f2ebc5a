/** Markup that is already escaped: `html` inserts it as it is. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/**
 * A template of markup whose values are escaped: text from the registry or the
 * archive (an error message, a reason) can never become markup on the page.
 * Arrays are joined; undefined, null and false insert nothing.
 */
export function html(strings: TemplateStringsArray, ...values: readonly unknown[]): Html {
  let text = strings[0] ?? '';
  values.forEach((value, index) => {
    text += insert(value) + (strings[index + 1] ?? '');
  });
  return new Html(text);
}

function insert(value: unknown): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(insert).join('');
  if (value === undefined || value === null || value === false) return '';
  return escapeHtml(String(value));
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => ENTITIES[character] ?? character);
}

const ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};
