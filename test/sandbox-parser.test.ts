import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseResponse, ResponseParsingError } from '../src/backends/sandbox/parser.ts';

const block = (call: string) => `Thought: checking.\n\`\`\`\n${call}\n\`\`\`\n`;

function parseError(reply: string): string {
  try {
    parseResponse(reply);
  } catch (error) {
    assert.ok(error instanceof ResponseParsingError);
    return error.message;
  }
  assert.fail('expected a parse error');
}

describe('sandbox parser (AIOpsLab ResponseParser)', () => {
  it('parses calls with no, positional and keyword arguments', () => {
    assert.deepEqual(parseResponse(block('submit()')), { api: 'submit', args: [], kwargs: {} });
    assert.deepEqual(parseResponse(block("myApi(10, 'error')")), {
      api: 'myApi',
      args: [10, 'error'],
      kwargs: {},
    });
    assert.deepEqual(parseResponse(block('submit(has_anomaly="Yes")')), {
      api: 'submit',
      args: [],
      kwargs: { has_anomaly: 'Yes' },
    });
    assert.deepEqual(parseResponse(block('get_metrics("ns", duration=2.5)')).kwargs, { duration: 2.5 });
  });

  it('evaluates Python literals: both quotes, escapes, lists, tuples, dicts, constants', () => {
    const call = parseResponse(
      block(
        `f('a\\'b', "c\\"d\\n", [1, [True, None]], ("x", 'y'), {'k': {"n": False}}, 0x10, 1e3, 'con' "cat")`,
      ),
    );
    assert.deepEqual(call.args, [
      "a'b",
      'c"d\n',
      [1, [true, null]],
      ['x', 'y'],
      { k: { n: false } },
      16,
      1000,
      'concat',
    ]);
    assert.deepEqual(
      parseResponse(block('submit({"system_level": "Application", "fault_type": "Misconfiguration"})')).args,
      [{ system_level: 'Application', fault_type: 'Misconfiguration' }],
    );
    assert.deepEqual(parseResponse(block('submit(["a", "b",])')).args, [['a', 'b']]);
  });

  it('takes exec_shell as one quoted string, tolerating command=', () => {
    const nested = `exec_shell("kubectl patch svc user-service -n test-social-network --type='json' -p='[{"op": "replace", "path": "/spec/ports/0/targetPort", "value": 9090}]'")`;
    assert.deepEqual(parseResponse(block(nested)).args, [
      `kubectl patch svc user-service -n test-social-network --type='json' -p='[{"op": "replace", "path": "/spec/ports/0/targetPort", "value": 9090}]'`,
    ]);
    assert.deepEqual(parseResponse(block("exec_shell(command='ls -l')")).args, ['ls -l']);
    assert.deepEqual(parseResponse(block('exec_shell("echo \\"hi\\" there")')).args, ['echo "hi" there']);
    assert.equal(
      parseError(block('exec_shell(ls)')),
      'Error parsing response: Error when parsing response: commands must be quoted strings',
    );
  });

  it('rejects anything but exactly one untagged block, with the exact text', () => {
    const expected = `Error parsing response: \nFormat validation failure. Only have one pair of three ticks in your block and check the ticks. \nCorrect example 1:\nI should run:\n\`\`\`\nexec_shell("ls")\n\`\`\`\n\nCorrect example 2:\nCheck k8s info \n\`\`\`\nexec_shell("kubectl get services --all-namespaces")\n\`\`\`\n            `;
    assert.equal(parseError('```bash\nexec_shell("ls")\n```'), expected);
    assert.equal(parseError('no block at all'), expected);
    assert.equal(parseError(`${block('submit()')}${block('submit()')}`), expected);
  });

  it('reports non-literals and syntax errors like AIOpsLab (double prefix)', () => {
    assert.equal(
      parseError(block('submit(foo)')),
      "Error parsing response: Error parsing response: Unsupported AST node type: <class 'ast.Name'>",
    );
    assert.equal(
      parseError(block('get_metrics("ns", -5)')),
      "Error parsing response: Error parsing response: Unsupported AST node type: <class 'ast.UnaryOp'>",
    );
    assert.equal(
      parseError(block('submit(x=[(1, 2)])')),
      "Error parsing response: Error parsing response: Unsupported AST node type: <class 'ast.Tuple'>",
    );
    assert.match(
      parseError(block('submit("abc)')),
      /^Error parsing response: Error parsing response: unterminated string literal/,
    );
    assert.equal(parseError(block('echo hello')), 'Error parsing response: No API call found!');
    assert.match(parseError(block('submit(a=1, 2)')), /positional argument follows keyword argument/);
  });
});
