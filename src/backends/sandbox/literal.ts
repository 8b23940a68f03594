/**
 * A small parser for the argument list of a Python call, enough to reproduce what
 * AIOpsLab's ResponseParser gets from `ast.parse(f"func({args})")` and its literal
 * evaluation: constants (str with every quote form and escape, int, float, True/False/None),
 * lists, tuples, dicts, nesting, and `name=value` keywords. Anything that is valid Python but
 * not a literal becomes an `Other` node carrying the `ast` class name, so the caller can raise
 * AIOpsLab's "Unsupported AST node type: <class 'ast.X'>" exactly where Python would.
 * Syntax errors carry CPython 3.11-style messages (approximate for the rarer cases).
 */
import type { Json } from '../../queue/types.ts';

export type PyNode =
  | { kind: 'Constant'; value: Json }
  | { kind: 'List' | 'Tuple'; elts: PyNode[] }
  | { kind: 'Dict'; keys: PyNode[]; values: PyNode[] }
  | { kind: 'Name'; id: string }
  | { kind: 'Other'; type: string };

export interface PyCallArgs {
  args: PyNode[];
  keywords: { arg: string; value: PyNode }[];
}

export class PySyntaxError extends Error {}

/** The parsed expression is not a call (e.g. `func(a).b`): reading `.args` raises. */
export class NotACall extends Error {}

type Token =
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

function syntaxError(message: string, source: string, offset: number): PySyntaxError {
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

function tokenize(src: string): Token[] {
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

const BINARY_OPS = new Set(['+', '-', '*', '/', '//', '%', '**', '@', '&', '|', '^', '<<', '>>']);
const COMPARE_OPS = new Set(['==', '!=', '<', '>', '<=', '>=']);
const CLOSERS: Record<string, string> = { '(': ')', '[': ']', '{': '}' };

/** Recursive descent over the tokens; the node types mirror Python's `ast` classes. */
class ArgumentParser {
  private pos = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly source: string,
  ) {}

  private peek(): Token {
    return this.tokens[this.pos]!;
  }

  private isOp(value: string): boolean {
    const token = this.peek();
    return token.t === 'op' && token.value === value;
  }

  private isName(value: string): boolean {
    const token = this.peek();
    return token.t === 'name' && token.value === value;
  }

  private fail(): never {
    throw syntaxError('invalid syntax', this.source, 0);
  }

  private expect(value: string, opener: string): void {
    if (this.isOp(value)) {
      this.pos++;
      return;
    }
    if (this.peek().t === 'end') throw syntaxError(`'${opener}' was never closed`, this.source, 0);
    this.fail();
  }

  parseCallArguments(): PyCallArgs {
    const result: PyCallArgs = { args: [], keywords: [] };
    while (!this.isOp(')')) {
      const token = this.peek();
      const next = this.tokens[this.pos + 1];
      if (token.t === 'name' && next?.t === 'op' && next.value === '=') {
        this.pos += 2;
        // ast.parse accepts a repeated keyword (only compile() rejects it); the last one wins.
        result.keywords = result.keywords.filter((kw) => kw.arg !== token.value);
        result.keywords.push({ arg: token.value, value: this.parseExpression() });
      } else if (this.isOp('*') || this.isOp('**')) {
        this.pos++;
        this.parseExpression();
        result.args.push({ kind: 'Other', type: 'Starred' });
      } else {
        if (result.keywords.length > 0) {
          throw syntaxError('positional argument follows keyword argument', this.source, 0);
        }
        result.args.push(this.parseExpression());
      }
      if (!this.isOp(',')) break;
      this.pos++;
    }
    this.expect(')', '(');
    return this.parseTrailer(result);
  }

  /** `func(a)(b)` is a call of a call: the outer one's arguments are what AIOpsLab reads. */
  private parseTrailer(result: PyCallArgs): PyCallArgs {
    if (this.peek().t === 'end') return result;
    if (this.isOp('(')) {
      this.pos++;
      return this.parseCallArguments();
    }
    if (this.isOp('.') || this.isOp('[')) {
      const node = this.isOp('.') ? 'Attribute' : 'Subscript';
      this.parseUnaryTrailers();
      if (this.peek().t === 'end') throw new NotACall(`'${node}' object has no attribute 'args'`);
    }
    this.fail();
  }

  private parseUnaryTrailers(): void {
    while (this.isOp('.') || this.isOp('[') || this.isOp('(')) {
      const opener = this.peek();
      this.pos++;
      if (opener.t === 'op' && opener.value === '.') this.pos++;
      else if (opener.t === 'op') this.skipBalanced(opener.value);
    }
  }

  /** Any expression; operators collapse into one node named after the loosest operator. */
  private parseExpression(): PyNode {
    if (this.isName('lambda')) {
      while (!this.isOp(',') && !this.isOp(')') && this.peek().t !== 'end') this.pos++;
      return { kind: 'Other', type: 'Lambda' };
    }
    let node = this.parseUnary();
    let loosest = 0; // 1 BinOp, 2 Compare, 3 BoolOp, 4 IfExp
    for (;;) {
      const token = this.peek();
      let rank = 0;
      if (token.t === 'op' && BINARY_OPS.has(token.value)) rank = 1;
      else if (token.t === 'op' && COMPARE_OPS.has(token.value)) rank = 2;
      else if (token.t === 'name' && (token.value === 'in' || token.value === 'is')) rank = 2;
      else if (token.t === 'name' && token.value === 'not' && this.tokens[this.pos + 1]?.t === 'name')
        rank = 2;
      else if (token.t === 'name' && (token.value === 'and' || token.value === 'or')) rank = 3;
      else if (token.t === 'name' && (token.value === 'if' || token.value === 'else')) rank = 4;
      if (rank === 0) break;
      this.pos++;
      if (this.isName('not') || this.isName('in')) this.pos++;
      this.parseUnary();
      loosest = Math.max(loosest, rank);
    }
    if (loosest > 0) node = { kind: 'Other', type: ['', 'BinOp', 'Compare', 'BoolOp', 'IfExp'][loosest]! };
    return node;
  }

  private parseUnary(): PyNode {
    if (this.isOp('-') || this.isOp('+') || this.isOp('~') || this.isName('not')) {
      this.pos++;
      this.parseUnary();
      return { kind: 'Other', type: 'UnaryOp' };
    }
    if (this.isName('await')) {
      this.pos++;
      this.parseUnary();
      return { kind: 'Other', type: 'Await' };
    }
    let node = this.parseAtom();
    for (;;) {
      if (this.isOp('(')) {
        this.pos++;
        this.skipBalanced('(');
        node = { kind: 'Other', type: 'Call' };
      } else if (this.isOp('[')) {
        this.pos++;
        this.skipBalanced('[');
        node = { kind: 'Other', type: 'Subscript' };
      } else if (this.isOp('.')) {
        this.pos++;
        if (this.peek().t !== 'name') this.fail();
        this.pos++;
        node = { kind: 'Other', type: 'Attribute' };
      } else {
        return node;
      }
    }
  }

  private skipBalanced(opener: string): void {
    const closer = CLOSERS[opener]!;
    let depth = 1;
    while (depth > 0) {
      const token = this.peek();
      if (token.t === 'end') throw syntaxError(`'${opener}' was never closed`, this.source, 0);
      if (token.t === 'op' && token.value in CLOSERS) depth++;
      if (token.t === 'op' && token.value === closer) depth--;
      this.pos++;
    }
  }

  private parseAtom(): PyNode {
    const token = this.peek();
    this.pos++;
    if (token.t === 'num') return { kind: 'Constant', value: token.value };
    if (token.t === 'str') return this.parseStrings(token);
    if (token.t === 'name') return this.nameNode(token.value);
    if (token.t === 'op' && token.value === '[') return this.parseSequence(']', '[', 'List');
    if (token.t === 'op' && token.value === '(') return this.parseParenthesized();
    if (token.t === 'op' && token.value === '{') return this.parseBraces();
    if (token.t === 'op' && token.value === '...') return { kind: 'Other', type: 'Constant' };
    this.fail();
  }

  private nameNode(id: string): PyNode {
    if (id === 'True') return { kind: 'Constant', value: true };
    if (id === 'False') return { kind: 'Constant', value: false };
    if (id === 'None') return { kind: 'Constant', value: null };
    if (id === '\0complex') return { kind: 'Other', type: 'Constant' };
    return { kind: 'Name', id };
  }

  /** Adjacent string literals concatenate; an f-string anywhere makes a JoinedStr. */
  private parseStrings(first: Extract<Token, { t: 'str' }>): PyNode {
    let value = first.value;
    let joined = /f/i.test(first.prefix);
    for (let token = this.peek(); token.t === 'str'; token = this.peek()) {
      value += token.value;
      joined ||= /f/i.test(token.prefix);
      this.pos++;
    }
    return joined ? { kind: 'Other', type: 'JoinedStr' } : { kind: 'Constant', value };
  }

  private parseSequence(closer: string, opener: string, kind: 'List' | 'Tuple'): PyNode {
    const elts: PyNode[] = [];
    while (!this.isOp(closer)) {
      elts.push(this.parseExpression());
      if (this.isName('for')) {
        this.skipBalanced(opener);
        return { kind: 'Other', type: kind === 'List' ? 'ListComp' : 'GeneratorExp' };
      }
      if (!this.isOp(',')) break;
      this.pos++;
    }
    this.expect(closer, opener);
    return { kind, elts };
  }

  private parseParenthesized(): PyNode {
    if (this.isOp(')')) {
      this.pos++;
      return { kind: 'Tuple', elts: [] };
    }
    const first = this.parseExpression();
    if (this.isOp(')')) {
      this.pos++;
      return first;
    }
    if (this.isName('for')) {
      this.skipBalanced('(');
      return { kind: 'Other', type: 'GeneratorExp' };
    }
    this.expect(',', '(');
    const rest = this.parseSequence(')', '(', 'Tuple');
    return rest.kind === 'Tuple' ? { kind: 'Tuple', elts: [first, ...rest.elts] } : rest;
  }

  private parseBraces(): PyNode {
    const keys: PyNode[] = [];
    const values: PyNode[] = [];
    if (this.isOp('}')) {
      this.pos++;
      return { kind: 'Dict', keys, values };
    }
    const first = this.parseExpression();
    if (!this.isOp(':')) {
      let rest: PyNode;
      if (this.isOp(',')) {
        this.pos++;
        rest = this.parseSequence('}', '{', 'List');
      } else {
        rest = this.closeSet();
      }
      return rest.kind === 'Other' ? rest : { kind: 'Other', type: 'Set' };
    }
    let key = first;
    for (;;) {
      this.expect(':', '{');
      keys.push(key);
      values.push(this.parseExpression());
      if (this.isName('for')) {
        this.skipBalanced('{');
        return { kind: 'Other', type: 'DictComp' };
      }
      if (!this.isOp(',')) break;
      this.pos++;
      if (this.isOp('}')) break;
      key = this.parseExpression();
    }
    this.expect('}', '{');
    return { kind: 'Dict', keys, values };
  }

  private closeSet(): PyNode {
    if (this.isName('for')) {
      this.skipBalanced('{');
      return { kind: 'Other', type: 'SetComp' };
    }
    this.expect('}', '{');
    return { kind: 'Other', type: 'Set' };
  }
}

/** Parses `args` as Python would parse `func(<args>)`; throws PySyntaxError. */
export function parsePythonCallArguments(args: string): PyCallArgs {
  const source = `func(${args})`;
  const tokens = tokenize(source);
  // tokens: func ( ...
  const parser = new ArgumentParser(tokens.slice(2), source);
  return parser.parseCallArguments();
}
