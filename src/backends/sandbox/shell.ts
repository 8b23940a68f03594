/**
 * The debugging shell behind exec_shell: splits a command line like bash (quotes, escapes,
 * `|`, `&&`, `||`, `;`), runs `kubectl` against the model and a few harmless built-ins, pipes
 * through the usual text filters, and frames the result as AIOpsLab's Shell.local_exec does
 * (`[ERROR] Command execution failed: <stderr>` on a non-zero exit, else stdout + stderr).
 */
import type { Cluster } from './cluster.ts';
import { runKubectl } from './kubectl.ts';
import type { Telemetry } from './telemetry.ts';

export interface CommandResult {
  stdout: string;
  stderr: string;
  code: number;
}

export const ok = (stdout: string, stderr = ''): CommandResult => ({ stdout, stderr, code: 0 });
export const fail = (stderr: string, code = 1): CommandResult => ({ stdout: '', stderr, code });

export interface ShellContext {
  cluster: Cluster;
  telemetry: Telemetry;
  /** The full command line (a hung command's timeout message quotes it). */
  commandLine: string;
}

/** Raised by a command that would block until exec_shell's 30 s timeout. */
export class CommandTimeout extends Error {}

type Segment = { words: string[]; op: string };

/** Splits into simple commands joined by operators; quotes and escapes resolved. */
export function splitCommandLine(line: string): Segment[] {
  const segments: Segment[] = [];
  let words: string[] = [];
  let word = '';
  let inWord = false;
  const flush = () => {
    if (inWord) words.push(word);
    word = '';
    inWord = false;
  };
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (ch === "'") {
      const end = line.indexOf("'", i + 1);
      word += end === -1 ? line.slice(i + 1) : line.slice(i + 1, end);
      inWord = true;
      i = end === -1 ? line.length : end;
    } else if (ch === '"') {
      inWord = true;
      for (i++; i < line.length && line[i] !== '"'; i++) {
        if (line[i] === '\\' && '"\\$`'.includes(line[i + 1] ?? '')) i++;
        word += line[i];
      }
    } else if (ch === '\\') {
      word += line[i + 1] ?? '';
      inWord = true;
      i++;
    } else if (/\s/.test(ch)) {
      flush();
    } else if ('|&;'.includes(ch)) {
      const two = line.slice(i, i + 2);
      if (ch === '&' && line[i + 1] === '>') {
        word += ch;
        inWord = true;
        continue;
      }
      if (ch === '&' && (line[i - 1] === '>' || line[i - 1] === '<')) {
        word += ch;
        continue;
      }
      flush();
      const op = two === '||' || two === '&&' ? two : ch;
      segments.push({ words, op });
      words = [];
      i += op.length - 1;
    } else {
      word += ch;
      inWord = true;
    }
  }
  flush();
  segments.push({ words, op: '' });
  return segments;
}

/** Drops redirections (`2>&1`, `2>/dev/null`, `>/tmp/x`) — output always comes back. */
function stripRedirections(words: string[]): { words: string[]; mergeStderr: boolean; dropStderr: boolean } {
  const kept: string[] = [];
  let mergeStderr = false;
  let dropStderr = false;
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word === '2>&1') mergeStderr = true;
    else if (/^2>/.test(word)) {
      dropStderr = true;
      if (word === '2>') i++;
    } else if (/^(&?>|>>|1>)/.test(word)) {
      if (/^(&?>|>>|1>)$/.test(word)) i++;
    } else kept.push(word);
  }
  return { words: kept, mergeStderr, dropStderr };
}

function grep(args: string[], input: string): CommandResult {
  let invert = false;
  let ignoreCase = false;
  let count = false;
  let extended = false;
  let pattern: string | undefined;
  const patterns: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-e') patterns.push(args[++i] ?? '');
    else if (/^-[A-Za-z]+$/.test(arg)) {
      invert ||= arg.includes('v');
      ignoreCase ||= arg.includes('i');
      count ||= arg.includes('c');
      extended ||= arg.includes('E');
      if (/[ABC]/.test(arg)) i++;
    } else if (pattern === undefined && patterns.length === 0) pattern = arg;
  }
  if (pattern !== undefined) patterns.push(pattern);
  if (patterns.length === 0)
    return fail("Usage: grep [OPTION]... PATTERNS [FILE]...\nTry 'grep --help' for more information.\n", 2);
  const sources = patterns.map((p) =>
    extended
      ? p
      : p
          .replace(/\\\|/g, '|')
          .replace(/([()+?{}])/g, '\\$1')
          .replace(/\\\\([()+?{}])/g, '$1'),
  );
  let regexes: RegExp[];
  try {
    regexes = sources.map((source) => new RegExp(source, ignoreCase ? 'i' : ''));
  } catch {
    regexes = patterns.map(
      (p) => new RegExp(p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), ignoreCase ? 'i' : ''),
    );
  }
  const lines = input.split('\n').filter((line, index, all) => index < all.length - 1 || line !== '');
  const matched = lines.filter((line) => regexes.some((re) => re.test(line)) !== invert);
  if (count) return { stdout: `${matched.length}\n`, stderr: '', code: matched.length ? 0 : 1 };
  return { stdout: matched.map((line) => `${line}\n`).join(''), stderr: '', code: matched.length ? 0 : 1 };
}

function lineCount(args: string[], fallback: number): number {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-n') return Number.parseInt(args[i + 1] ?? '', 10) || fallback;
    if (/^-n\d+$/.test(arg)) return Number(arg.slice(2));
    if (/^-\d+$/.test(arg)) return Number(arg.slice(1));
    if (/^--lines=\d+$/.test(arg)) return Number(arg.slice(8));
  }
  return fallback;
}

function toLines(input: string): string[] {
  const lines = input.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

const FILTERS: Record<string, (args: string[], input: string) => CommandResult> = {
  grep,
  egrep: (args, input) => grep(['-E', ...args], input),
  head: (args, input) =>
    ok(
      toLines(input)
        .slice(0, lineCount(args, 10))
        .map((l) => `${l}\n`)
        .join(''),
    ),
  tail: (args, input) => {
    const n = lineCount(args, 10);
    return ok(
      toLines(input)
        .slice(-n)
        .map((l) => `${l}\n`)
        .join(''),
    );
  },
  wc: (args, input) => {
    const lines = (input.match(/\n/g) ?? []).length;
    if (args.includes('-l')) return ok(`${lines}\n`);
    const words = input.split(/\s+/).filter(Boolean).length;
    return ok(
      `${String(lines).padStart(7)} ${String(words).padStart(7)} ${String(input.length).padStart(7)}\n`,
    );
  },
  sort: (args, input) => {
    const lines = toLines(input).sort();
    if (args.includes('-r')) lines.reverse();
    return ok(lines.map((l) => `${l}\n`).join(''));
  },
  uniq: (_args, input) =>
    ok(
      toLines(input)
        .filter((line, i, all) => i === 0 || all[i - 1] !== line)
        .map((l) => `${l}\n`)
        .join(''),
    ),
  cat: (_args, input) => ok(input),
  awk: (args, input) => {
    const program = args.find((arg) => arg.includes('print')) ?? '';
    const fields = [...program.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]));
    if (fields.length === 0) return ok(input);
    return ok(
      toLines(input)
        .map((line) => {
          const cols = line.trim().split(/\s+/);
          return `${fields.map((f) => (f === 0 ? line : (cols[f - 1] ?? ''))).join(' ')}\n`;
        })
        .join(''),
    );
  },
};

function builtin(words: string[], ctx: ShellContext): CommandResult | null {
  const [command, ...args] = words;
  switch (command) {
    case 'echo':
      return ok(
        `${args.filter((a) => a !== '-e' && a !== '-n').join(' ')}${args.includes('-n') ? '' : '\n'}`,
      );
    case 'pwd':
      return ok(`${ctx.telemetry.workingDirectory}\n`);
    case 'whoami':
      return ok('aiopslab\n');
    case 'hostname':
      return ok('aiopslab-worker\n');
    case 'date':
      return ok(`${new Date(ctx.cluster.now() * 1000).toUTCString().replace('GMT', 'UTC')}\n`);
    case 'true':
      return ok('');
    case 'false':
      return fail('');
    case 'ls':
      return ctx.telemetry.list(args.filter((a) => !a.startsWith('-')));
    case 'cat':
      if (args.length === 0) return null;
      return ctx.telemetry.cat(args.filter((a) => !a.startsWith('-')));
    default:
      return null;
  }
}

function runSimple(words: string[], input: string | null, ctx: ShellContext): CommandResult {
  const { words: argv, mergeStderr, dropStderr } = stripRedirections(words);
  const [command, ...args] = argv;
  let result: CommandResult;
  if (!command) result = ok('');
  else if (command === 'kubectl' || command === 'k') result = runKubectl(args, ctx);
  else if (command === 'sudo' || command === 'timeout' || command === 'watch') {
    const rest = command === 'timeout' ? args.slice(1) : args;
    if (command === 'watch') throw new CommandTimeout();
    result = runSimple(rest, input, ctx);
  } else if (input !== null && command in FILTERS) result = FILTERS[command]!(args, input);
  else
    result =
      builtin(argv, ctx) ??
      (command in FILTERS && input === null && args.length === 0 && command !== 'cat'
        ? ok('')
        : fail(`bash: line 1: ${command}: command not found\n`, 127));
  if (mergeStderr) result = { ...result, stdout: result.stdout + result.stderr, stderr: '' };
  if (dropStderr) result = { ...result, stderr: '' };
  return result;
}

/** Runs a whole command line; `|` feeds stdout forward, `&&`/`||`/`;` sequence by exit code. */
export function runCommandLine(line: string, ctx: ShellContext): CommandResult {
  const segments = splitCommandLine(line);
  let stdout = '';
  let stderr = '';
  let last: CommandResult = ok('');
  let pipeInput: string | null = null;
  let skip = false;
  for (const segment of segments) {
    if (!skip) {
      const result = runSimple(segment.words, pipeInput, ctx);
      stderr += result.stderr;
      last = result;
      if (segment.op === '|') {
        pipeInput = result.stdout;
        continue;
      }
      stdout += result.stdout;
    }
    pipeInput = null;
    if (segment.op === '&&') skip = last.code !== 0;
    else if (segment.op === '||') skip = last.code === 0;
    else skip = false;
  }
  return { stdout, stderr, code: last.code };
}

/** Shell.local_exec's framing of a finished command. */
export function frameShellOutput(result: CommandResult): string {
  if (result.code !== 0) return `[ERROR] Command execution failed: ${result.stderr}`;
  return result.stdout + result.stderr;
}
