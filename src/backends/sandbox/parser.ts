/**
 * AIOpsLab's ResponseParser (aiopslab/orchestrator/parser.py), rule for rule: the same
 * validation regex, code-block extraction, API-name and argument rules, and the same error
 * texts, including ResponseParsingError's "Error parsing response: " prefix (which the
 * literal-evaluation path applies twice, as AIOpsLab does).
 */
import type { Json, JsonObject } from '../../queue/types.ts';
import type { ParsedCall } from '../environment.ts';
import { NotACall, type PyNode, PySyntaxError, parsePythonCallArguments } from './literal.ts';

/** ResponseParsingError: `str(e)` is the observation the agent sees. */
export class ResponseParsingError extends Error {
  constructor(readonly detail: string) {
    super(`Error parsing response: ${detail}`);
  }
}

// The trailing spaces after "ticks in your block and check the ticks." and "Check k8s info"
// and the final indentation are part of AIOpsLab's text.
const FORMAT_VALIDATION_FAILURE = `
Format validation failure. Only have one pair of three ticks in your block and check the ticks. 
Correct example 1:
I should run:
\`\`\`
exec_shell("ls")
\`\`\`

Correct example 2:
Check k8s info 
\`\`\`
exec_shell("kubectl get services --all-namespaces")
\`\`\`
            `;

const FENCED_BLOCK = /```\s*\n([\s\S]*?)\n```/g;

function validate(response: string): void {
  const blocks = response.match(FENCED_BLOCK) ?? [];
  if (blocks.length !== 1) throw new ResponseParsingError(FORMAT_VALIDATION_FAILURE);
}

/** The lines between the first two lines that contain three backticks. */
function extractCodeBlock(response: string): string {
  const lines = response.split('\n');
  const fences = lines.flatMap((line, index) => (line.includes('```') ? [index] : []));
  if (fences.length < 2) return '';
  return lines.slice(fences[0]! + 1, fences[1]!).join('\n');
}

function parseApiName(block: string): string {
  const paren = block.indexOf('(');
  return paren === -1 ? '' : pyStrip(block.slice(0, paren));
}

/** Python's str.strip() with no argument (whitespace). */
function pyStrip(text: string): string {
  return text.replace(/^\s+|\s+$/g, '');
}

/** Python's str.strip(chars) for a single character. */
function stripChar(text: string, char: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && text[start] === char) start++;
  while (end > start && text[end - 1] === char) end--;
  return text.slice(start, end);
}

function parseShellArgument(argsText: string): Json[] {
  let text = argsText;
  if (text.startsWith('command=')) text = pyStrip(text.replaceAll('command=', ''));
  let command: string;
  if (text.startsWith('"') && text.endsWith('"')) command = stripChar(text, '"');
  else if (text.startsWith("'") && text.endsWith("'")) command = stripChar(text, "'");
  else throw new ResponseParsingError('Error when parsing response: commands must be quoted strings');
  return [command.replaceAll('\\"', '"').replaceAll("\\'", "'")];
}

class UnsupportedNode extends Error {}

/** eval_ast_node: literals only; True/False/None are constants already. */
function evalNode(node: PyNode): Json {
  switch (node.kind) {
    case 'Constant':
      return node.value;
    case 'List':
      return node.elts.map(evalNode);
    case 'Dict':
      return evalDict(node.keys, node.values);
    case 'Tuple':
      throw new UnsupportedNode("Unsupported AST node type: <class 'ast.Tuple'>");
    case 'Name':
      throw new UnsupportedNode("Unsupported AST node type: <class 'ast.Name'>");
    default:
      throw new UnsupportedNode(`Unsupported AST node type: <class 'ast.${node.type}'>`);
  }
}

function evalDict(keys: PyNode[], values: PyNode[]): JsonObject {
  const out: JsonObject = {};
  keys.forEach((key, index) => {
    const keyValue = evalNode(key);
    if (keyValue !== null && typeof keyValue === 'object') {
      throw new UnsupportedNode(`unhashable type: '${Array.isArray(keyValue) ? 'list' : 'dict'}'`);
    }
    out[pythonKey(keyValue)] = evalNode(values[index]!);
  });
  return out;
}

/** JSON object keys are strings; Python's str() of the key is the closest spelling. */
function pythonKey(value: Json): string {
  if (value === null) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  return String(value);
}

/** The top-level argument rule: constants, lists/tuples (elements evaluated), dicts. */
function evalTopLevelArgument(node: PyNode): Json {
  if (node.kind === 'List' || node.kind === 'Tuple') return node.elts.map(evalNode);
  return evalNode(node);
}

function parseLiteralArguments(argsText: string): { args: Json[]; kwargs: JsonObject } {
  try {
    const call = parsePythonCallArguments(argsText);
    const args = call.args.map(evalTopLevelArgument);
    const kwargs: JsonObject = {};
    for (const keyword of call.keywords) kwargs[keyword.arg] = evalNode(keyword.value);
    return { args, kwargs };
  } catch (error) {
    if (error instanceof PySyntaxError || error instanceof UnsupportedNode || error instanceof NotACall) {
      throw new ResponseParsingError(`Error parsing response: ${error.message}`);
    }
    throw error;
  }
}

function parseArguments(block: string, isShellCommand: boolean): { args: Json[]; kwargs: JsonObject } {
  const open = block.indexOf('(');
  const close = block.lastIndexOf(')');
  if (open === -1 || close === -1) throw new ResponseParsingError('No API call found!');
  const argsText = pyStrip(block.slice(open + 1, close));
  if (!argsText) return { args: [], kwargs: {} };
  if (isShellCommand) return { args: parseShellArgument(argsText), kwargs: {} };
  return parseLiteralArguments(argsText);
}

/** ResponseParser.parse; throws ResponseParsingError whose message is the observation. */
export function parseResponse(response: string): ParsedCall {
  validate(response);
  const block = extractCodeBlock(response);
  const api = parseApiName(block);
  const { args, kwargs } = parseArguments(block, api === 'exec_shell');
  return { api, args, kwargs };
}
