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
import { syntaxError, type Token, tokenize } from './literal-tokens.ts';

export { PySyntaxError } from './literal-tokens.ts';

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

/** The parsed expression is not a call (e.g. `func(a).b`): reading `.args` raises. */
export class NotACall extends Error {}

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
