/**
 * Output encoders kubectl uses: tabwriter-aligned tables (3 spaces of padding), JSON with
 * 4-space indentation, and YAML in the sigs.k8s.io/yaml style (sorted keys, lists at the
 * parent's indentation, quoted ambiguous scalars, literal blocks for multi-line strings).
 */

/** kubectl's printers: each column as wide as its widest cell plus 3 spaces; the last unpadded. */
export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  const lines = rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]! + 3)))
      .join('')
      .trimEnd(),
  );
  return `${lines.join('\n')}\n`;
}

export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([k, v]) => [k, sortKeys(v)]));
  }
  return value;
}

export function toJson(value: unknown): string {
  return `${JSON.stringify(sortKeys(value), null, 4)}\n`;
}

const YAML_PLAIN_UNSAFE =
  /^$|^[\s-?:,[\]{}#&*!|>'"%@`~]|[:#]\s|:$|\s$|^(true|false|yes|no|on|off|y|n|null|~)$/i;

function yamlScalar(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const text = String(value);
  const numeric = /^[-+]?(\d[\d_]*(\.\d*)?([eE][-+]?\d+)?|\.\d+|0x[0-9a-fA-F]+|\.inf|\.nan)$/i.test(text);
  if (numeric || YAML_PLAIN_UNSAFE.test(text)) return JSON.stringify(text);
  return text;
}

function yamlLines(value: unknown, indent: string): string[] {
  if (Array.isArray(value)) {
    if (value.length === 0) return [`${indent}[]`];
    return value.flatMap((item) => {
      const inner = yamlBlock(item, `${indent}  `);
      if (inner === null) return [`${indent}- ${yamlInline(item, `${indent}  `)}`];
      const [first, ...rest] = inner;
      return [`${indent}- ${first!.slice(indent.length + 2)}`, ...rest];
    });
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return [`${indent}{}`];
  return entries.flatMap(([key, item]) => {
    const inner = yamlBlock(item, `${indent}  `);
    const label = `${indent}${yamlScalar(key)}:`;
    if (inner === null) return [`${label} ${yamlInline(item, `${indent}  `)}`];
    return Array.isArray(item) ? [label, ...yamlBlock(item, indent)!] : [label, ...inner];
  });
}

/** Lines for a non-empty collection, or null when the value prints on its key's line. */
function yamlBlock(value: unknown, indent: string): string[] | null {
  if (Array.isArray(value)) return value.length ? yamlLines(value, indent) : null;
  if (value && typeof value === 'object') return Object.keys(value).length ? yamlLines(value, indent) : null;
  return null;
}

function yamlInline(value: unknown, indent: string): string {
  if (Array.isArray(value)) return '[]';
  if (value && typeof value === 'object') return '{}';
  if (typeof value === 'string' && value.includes('\n')) {
    const chomp = value.endsWith('\n') ? '' : '-';
    const body = value.replace(/\n$/, '').split('\n');
    return `|${chomp}\n${body.map((line) => (line ? `${indent}${line}` : '')).join('\n')}`;
  }
  return yamlScalar(value);
}

export function toYaml(value: unknown): string {
  return `${yamlLines(sortKeys(value), '').join('\n')}\n`;
}
