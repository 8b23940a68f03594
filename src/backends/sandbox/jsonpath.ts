/**
 * A small kubectl JSONPath: `{.a.b[0].c}`, `[*]`, `[?(@.k=="v")]`, `{range ...}{end}`,
 * quoted literals like `{"\n"}`, and plain text between expressions. Results of one
 * expression are joined by spaces, as kubectl does.
 */

type Value = unknown;

function splitPath(path: string): string[] {
  const parts: string[] = [];
  const re = /\.\.?([^.[\]]+)|\[([^\]]*)\]/g;
  for (let m = re.exec(path); m; m = re.exec(path)) parts.push(m[1] !== undefined ? `.${m[1]}` : `[${m[2]}]`);
  return parts;
}

function applyFilter(items: Value[], filter: string): Value[] {
  const m = /^\?\(@\.([\w.-]+)\s*(==|!=)\s*["']?([^"')]*)["']?\)$/.exec(filter);
  if (!m) return [];
  const [, field, op, expected] = m;
  return items.filter((item) => {
    const actual = evaluate([item], `.${field}`)[0];
    return op === '==' ? String(actual) === expected : String(actual) !== expected;
  });
}

export function evaluate(roots: Value[], path: string): Value[] {
  let current = roots;
  for (const part of splitPath(path)) {
    const next: Value[] = [];
    for (const value of current) {
      if (part.startsWith('.')) {
        const key = part.slice(1);
        if (key === '*' && value && typeof value === 'object') next.push(...Object.values(value));
        else if (value && typeof value === 'object' && key in (value as object))
          next.push((value as Record<string, Value>)[key]);
        continue;
      }
      const inner = part.slice(1, -1);
      if (!Array.isArray(value)) continue;
      if (inner === '*' || inner === '') next.push(...value);
      else if (inner.startsWith('?')) next.push(...applyFilter(value, inner));
      else if (/^-?\d+$/.test(inner)) {
        const index = Number(inner) < 0 ? value.length + Number(inner) : Number(inner);
        if (index >= 0 && index < value.length) next.push(value[index]);
      } else if (/^-?\d*:-?\d*$/.test(inner)) {
        const [a, b] = inner.split(':');
        next.push(...value.slice(a ? Number(a) : 0, b ? Number(b) : undefined));
      }
    }
    current = next;
  }
  return current;
}

function show(value: Value): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

type Piece = { text: string } | { expr: string };

function tokenize(template: string): Piece[] {
  const pieces: Piece[] = [];
  const re = /\{((?:[^{}"]|"(?:[^"\\]|\\.)*")*)\}/g;
  let last = 0;
  for (let m = re.exec(template); m; m = re.exec(template)) {
    if (m.index > last) pieces.push({ text: template.slice(last, m.index) });
    pieces.push({ expr: m[1]!.trim() });
    last = m.index + m[0].length;
  }
  if (last < template.length) pieces.push({ text: template.slice(last) });
  return pieces;
}

function literal(expr: string): string | null {
  const m = /^"((?:[^"\\]|\\.)*)"$/.exec(expr) ?? /^'([^']*)'$/.exec(expr);
  if (!m) return null;
  return m[1]!.replace(/\\n/g, '\n').replace(/\\t/g, '\t').replace(/\\"/g, '"');
}

function render(pieces: Piece[], root: Value): string {
  let out = '';
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i]!;
    if ('text' in piece) {
      out += piece.text;
      continue;
    }
    const quoted = literal(piece.expr);
    if (quoted !== null) {
      out += quoted;
      continue;
    }
    if (piece.expr.startsWith('range ')) {
      const end = findEnd(pieces, i);
      const body = pieces.slice(i + 1, end);
      for (const item of evaluate([root], piece.expr.slice(6).trim().replace(/^@/, '')))
        out += render(body, item);
      i = end;
      continue;
    }
    const path = piece.expr.replace(/^\$/, '').replace(/^@/, '');
    out += evaluate([root], path).map(show).join(' ');
  }
  return out;
}

function findEnd(pieces: Piece[], start: number): number {
  let depth = 0;
  for (let i = start + 1; i < pieces.length; i++) {
    const piece = pieces[i]!;
    if (!('expr' in piece)) continue;
    if (piece.expr.startsWith('range ')) depth++;
    if (piece.expr === 'end') {
      if (depth === 0) return i;
      depth--;
    }
  }
  return pieces.length;
}

/** Renders a kubectl `-o jsonpath=` template against an object (or a List). */
export function renderJsonPath(template: string, root: Value): string {
  const unquoted = template.replace(/^'(.*)'$/s, '$1');
  const text = unquoted.includes('{') ? unquoted : `{${unquoted}}`;
  return render(tokenize(text), root);
}
