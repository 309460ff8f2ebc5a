import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '@pullback/pipeline';
import { describe, expect, it } from 'vitest';

/*
 * Comments, tests and docs cite markdown documents ("docs/repository-format.md §8",
 * a document and a quoted section title): each cited document must be in the
 * repository, and each cited section in it. A citation of a document kept elsewhere
 * (a design note outside the repository) leaves a reader with nothing to open.
 */

const root = fileURLToPath(new URL('../../..', import.meta.url));

/** Tracked files a citation may be in: sources, tests, scripts and docs. */
const CITING = /\.(?:[cm]?[jt]s|md|json|ya?ml|sh)$/;
const SKIPPED = /(?:^|\/)(?:node_modules|dist)\//;

/** A markdown document's path, as cited: a name ending in `.md`, with any folders. */
const DOCUMENT = /(?<![\w./-])((?:\.{1,2}\/)*[\w-]+(?:\/[\w.-]+)*\.md)\b/g;
/** What may follow a document to name a section of it: `§8`, `§ 2.3` or `, "Title"`. */
const SECTION = /^(?:,? § ?(?<number>\d+(?:\.\d+)*)|,? "(?<title>[^"\n]+)")/;
/** Addresses on the web may end in `.md` too; they are not the repository's. */
const WEB_ADDRESS = /\b[a-z][a-z0-9+.-]*:\/\/\S+/gi;

interface Citation {
  readonly file: string;
  readonly line: number;
  readonly document: string;
  readonly section?: { readonly number?: string; readonly title?: string };
}

function trackedFiles(): string[] {
  const listing = execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' });
  return listing.split('\0').filter((file) => CITING.test(file) && !SKIPPED.test(file));
}

function citationsIn(file: string): Citation[] {
  if (file.endsWith('package-lock.json')) return [];
  const citations: Citation[] = [];
  const lines = readFileSync(join(root, file), 'utf8').split('\n');
  for (const [index, text] of lines.entries()) {
    const line = text.replace(WEB_ADDRESS, '');
    for (const match of line.matchAll(DOCUMENT)) {
      const after = line.slice((match.index ?? 0) + match[0].length);
      const section = SECTION.exec(after)?.groups;
      citations.push({
        file,
        line: index + 1,
        document: match[1]!,
        ...(section === undefined
          ? {}
          : {
              section: {
                ...(section.number === undefined ? {} : { number: section.number }),
                ...(section.title === undefined ? {} : { title: section.title }),
              },
            }),
      });
    }
  }
  return citations;
}

/** The repository path of a cited document: from the citing file's folder, else from the root. */
function resolveDocument(citation: Citation): string | undefined {
  const candidates = [join(root, dirname(citation.file), citation.document), join(root, citation.document)];
  const found = candidates.find((candidate) => existsSync(candidate));
  return found === undefined ? undefined : relative(root, found);
}

/** The headings of a markdown document, without their `#` marks. */
function headings(document: string): string[] {
  return readFileSync(join(root, document), 'utf8')
    .split('\n')
    .filter((line) => /^#{1,6} /.test(line))
    .map((line) => line.replace(/^#+ /, '').trim());
}

function hasSection(document: string, section: NonNullable<Citation['section']>): boolean {
  const titles = headings(document);
  if (section.number !== undefined)
    return titles.some(
      (title) => title.startsWith(`${section.number} `) || title.startsWith(`${section.number}. `),
    );
  return titles.includes(section.title ?? '');
}

const where = (citation: Citation) => `${citation.file}:${citation.line} cites ${citation.document}`;

describe('citations of markdown documents', () => {
  const citations = trackedFiles().flatMap(citationsIn);

  it('finds the citations there are (docs/repository-format.md is cited)', () => {
    expect(citations.some((citation) => citation.document === 'docs/repository-format.md')).toBe(true);
  });

  it('cite documents that are in the repository', () => {
    const missing = citations.filter((citation) => resolveDocument(citation) === undefined).map(where);
    expect(missing).toEqual([]);
  });

  it('cite sections that the document has', () => {
    const missing = citations.flatMap((citation) => {
      const document = resolveDocument(citation);
      if (document === undefined || citation.section === undefined) return [];
      if (hasSection(document, citation.section)) return [];
      const section =
        citation.section.number === undefined ? `"${citation.section.title}"` : `§${citation.section.number}`;
      return [`${where(citation)} ${section}, which it does not have`];
    });
    expect(missing).toEqual([]);
  });
});

describe('docs/architecture.md, "Config file"', () => {
  it('shows a config that `pullback config check` accepts', () => {
    const text = readFileSync(join(root, 'docs/architecture.md'), 'utf8');
    const section = text.split(/^## Config file$/m)[1]?.split(/^## /m)[0] ?? '';
    const example = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
    expect(example, 'a yaml example in the section').toBeDefined();
    const config = parseConfig(example ?? '', 'docs/architecture.md');
    expect(Object.keys(config.components)).toEqual(['shop']);
  });
});
