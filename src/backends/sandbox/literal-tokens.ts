/**
 * The tokenizer of the Python call-argument parser (literal.ts): strings with every prefix,
 * quote form and escape, numbers, names and operators, with CPython 3.11-style syntax errors.
 */
export class PySyntaxError extends Error {}

export type Token =
  | { t: 'str'; value: string; prefix: string }
  | { t: 'num'; value: number }
  | { t: 'name'; value: string }
  | { t: 'op'; value: string }
  | { t: 'end' };

const OPERATORS = [
  '**=',
  '//=',
  '>>=',
  '<<=',
  '...',
  '**',
  '//',
  '<<',
  '>>',
  '<=',
  '>=',
  '==',
  '!=',
  '->',
  ':=',
  '+=',
  '-=',
  '*=',
  '/=',
  '%=',
  '&=',
  '|=',
  '^=',
  '@=',
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
  ',',
  ':',
  '.',
  ';',
  '@',
  '=',
  '+',
  '-',
  '*',
  '/',
  '%',
  '&',
  '|',
  '^',
  '~',
  '<',
  '>',
];

const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\n': '',
};

export function syntaxError(message: string, source: string, offset: number): PySyntaxError {
  const line = source.slice(0, offset).split('\n').length;
  return new PySyntaxError(`${message} (<unknown>, line ${line})`);
}

function decodeEscapes(body: string): string {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch !== '\\' || i + 1 >= body.length) {
      out += ch;
      continue;
    }
    const next = body[i + 1]!;
    if (next in SIMPLE_ESCAPES) {
      out += SIMPLE_ESCAPES[next];
      i++;
    } else if (next === 'x' && /^[0-9a-fA-F]{2}$/.test(body.slice(i + 2, i + 4))) {
      out += String.fromCharCode(Number.parseInt(body.slice(i + 2, i + 4), 16));
      i += 3;
    } else if (
      (next === 'u' || next === 'U') &&
      /^[0-9a-fA-F]+$/.test(body.slice(i + 2, i + (next === 'u' ? 6 : 10)))
    ) {
      const width = next === 'u' ? 4 : 8;
      out += String.fromCodePoint(Number.parseInt(body.slice(i + 2, i + 2 + width), 16));
      i += 1 + width;
    } else if (/[0-7]/.test(next)) {
      const octal = /^[0-7]{1,3}/.exec(body.slice(i + 1))![0];
      out += String.fromCharCode(Number.parseInt(octal, 8));
      i += octal.length;
    } else {
      out += ch; // Python keeps unknown escapes verbatim (with a DeprecationWarning)
    }
  }
  return out;
}

function readString(src: string, start: number, prefix: string): { token: Token; end: number } {
  const quote = src[start]!;
  const triple = src.startsWith(quote.repeat(3), start);
  const delimiter = triple ? quote.repeat(3) : quote;
  let i = start + delimiter.length;
  const raw = prefix.toLowerCase().includes('r');
  while (i < src.length) {
    if (src[i] === '\\') {
      i += 2;
      continue;
    }
    if (!triple && src[i] === '\n') break;
    if (src.startsWith(delimiter, i)) {
      const body = src.slice(start + delimiter.length, i);
      return {
        token: { t: 'str', value: raw ? body : decodeEscapes(body), prefix },
        end: i + delimiter.length,
      };
    }
    i++;
  }
  const line = src.slice(0, start).split('\n').length;
  const message = triple
    ? `unterminated triple-quoted string literal (detected at line ${src.split('\n').length})`
    : `unterminated string literal (detected at line ${line})`;
  throw syntaxError(message, src, start);
}

function readNumber(src: string, start: number): { token: Token; end: number } {
  const match =
    /^(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(\d[\d_]*)?\.?\d[\d_]*([eE][+-]?\d+)?|\d[\d_]*\.)[jJ]?/.exec(
      src.slice(start),
    );
  const text = match![0];
  if (/[jJ]$/.test(text)) return { token: { t: 'name', value: '\0complex' }, end: start + text.length };
  const clean = text.replace(/_/g, '');
  if (/^0\d/.test(clean) && !/[.eE]/.test(clean) && /[1-9]/.test(clean)) {
    throw syntaxError(
      'leading zeros in decimal integer literals are not permitted; use an 0o prefix for octal integers',
      src,
      start,
    );
  }
  let value: number;
  if (/^0[xX]/.test(clean)) value = Number.parseInt(clean.slice(2), 16);
  else if (/^0[oO]/.test(clean)) value = Number.parseInt(clean.slice(2), 8);
  else if (/^0[bB]/.test(clean)) value = Number.parseInt(clean.slice(2), 2);
  else value = Number(clean);
  return { token: { t: 'num', value }, end: start + text.length };
}

export function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const ch = src[i]!;
    if (/\s/.test(ch)) {
      i++;
    } else if (ch === '#') {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (ch === '\\' && src[i + 1] === '\n') {
      i += 2;
    } else if (/[A-Za-z_]/.test(ch) || ch.charCodeAt(0) > 127) {
      const word = /^[\p{L}\p{N}_]+/u.exec(src.slice(i))![0];
      const next = src[i + word.length];
      if ((next === '"' || next === "'") && /^(r|u|b|f|br|rb|fr|rf)$/i.test(word)) {
        const { token, end } = readString(src, i + word.length, word);
        tokens.push(token);
        i = end;
      } else {
        tokens.push({ t: 'name', value: word });
        i += word.length;
      }
    } else if (/\d/.test(ch) || (ch === '.' && /\d/.test(src[i + 1] ?? ''))) {
      const { token, end } = readNumber(src, i);
      tokens.push(token);
      i = end;
    } else if (ch === '"' || ch === "'") {
      const { token, end } = readString(src, i, '');
      tokens.push(token);
      i = end;
    } else {
      const op = OPERATORS.find((candidate) => src.startsWith(candidate, i));
      if (!op) throw syntaxError('invalid syntax', src, i);
      tokens.push({ t: 'op', value: op });
      i += op.length;
    }
  }
  tokens.push({ t: 'end' });
  return tokens;
}
