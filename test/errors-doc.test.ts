import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { PROBLEM_TYPE_BASE, isProblemCode, problemDocument, problems } from '../src/core/errors.js';

// docs/errors.md and the registry in src/core/errors.ts are one list written twice; this keeps
// them equal, so a code added (or renumbered, or retitled) without its documentation fails CI.

// dist/test/errors-doc.test.js → the repository root is two levels up.
const DOC_URL = new URL('../../docs/errors.md', import.meta.url);

interface DocumentedCode {
  readonly code: string;
  readonly status: number;
  readonly title: string;
  readonly when: string;
}

function readDoc(): string {
  return readFileSync(DOC_URL, 'utf8');
}

function documentedCodes(markdown: string): DocumentedCode[] {
  const lines = markdown.split('\n');
  const header = lines.findIndex((line) => /^\|\s*code\s*\|\s*status\s*\|\s*title\s*\|\s*when it happens\s*\|\s*$/.test(line));
  assert.ok(header >= 0, 'docs/errors.md has no "| code | status | title | when it happens |" table');
  const rows: DocumentedCode[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    // Cells are split on unescaped pipes; the "when" column may contain backticks but no pipes.
    const cells = line.slice(1, -1).split('|').map((cell) => cell.trim());
    assert.equal(cells.length, 4, `a row of the codes table does not have 4 cells: ${line}`);
    const [code = '', status = '', title = '', when = ''] = cells;
    const bare = /^`([a-z0-9-]+)`$/.exec(code);
    assert.ok(bare?.[1], `the code cell must be one code in backticks: ${code}`);
    assert.match(status, /^\d{3}$/, `status of ${code}`);
    rows.push({ code: bare[1], status: Number(status), title, when });
  }
  return rows;
}

describe('docs/errors.md', () => {
  const rows = documentedCodes(readDoc());

  it('documents every code in the registry and no other', () => {
    const documented = rows.map((r) => r.code).sort();
    const registered = Object.keys(problems).sort();
    const missing = registered.filter((c) => !documented.includes(c));
    const unknown = documented.filter((c) => !isProblemCode(c));
    assert.deepEqual(missing, [], `codes in src/core/errors.ts missing from docs/errors.md: ${missing.join(', ')}`);
    assert.deepEqual(unknown, [], `codes in docs/errors.md that are not in src/core/errors.ts: ${unknown.join(', ')}`);
    assert.deepEqual(documented, registered);
  });

  it('lists each code once', () => {
    const seen = new Set<string>();
    for (const { code } of rows) {
      assert.ok(!seen.has(code), `${code} is listed twice`);
      seen.add(code);
    }
  });

  it('gives each code its registered status and title, and says when it happens', () => {
    for (const row of rows) {
      if (!isProblemCode(row.code)) continue;
      const spec = problems[row.code];
      assert.equal(row.status, spec.status, `status of ${row.code}`);
      assert.equal(row.title, spec.title, `title of ${row.code}`);
      assert.ok(row.when.length >= 20, `${row.code} needs a "when it happens" description`);
    }
  });

  it('shows a problem document that problemDocument really produces', () => {
    const block = /```json\n([\s\S]*?)\n```/.exec(readDoc());
    assert.ok(block?.[1], 'docs/errors.md has no ```json example');
    const example = JSON.parse(block[1]) as Record<string, unknown>;
    const { type, title, status, code, detail, instance, ...extensions } = example;
    assert.equal(typeof code, 'string');
    assert.ok(typeof code === 'string' && isProblemCode(code), `example code ${String(code)} is not registered`);
    assert.equal(type, PROBLEM_TYPE_BASE + code);
    assert.equal(typeof title, 'string');
    assert.equal(typeof status, 'number');
    const produced = problemDocument(
      code,
      typeof detail === 'string' ? detail : undefined,
      extensions,
      typeof instance === 'string' ? instance : undefined,
    );
    assert.deepEqual(produced, example);
  });
});
