/**
 * agent_config is checked at the API edge (issue 16): a known field of the wrong type or range
 * is a 422 naming `agent_config.<field>`, for a single submit, a batch item, options nested in
 * `parameters`, and an experiment's agent configs; unknown keys are kept as given.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Body, createTestApp, json, type TestApp } from './helpers/app.ts';
import { dbModes } from './helpers/db.ts';

const BAD: [string, Record<string, unknown>][] = [
  ['temperature', { temperature: 'hot' }],
  ['temperature', { temperature: 2.5 }],
  ['top_p', { top_p: 1.5 }],
  ['max_tokens', { max_tokens: 0 }],
  ['max_tokens', { max_tokens: 1.5 }],
  ['model', { model: 7 }],
  ['model', { model: '' }],
  ['prompt_style', { prompt_style: 'shouty' }],
  ['conversation_id', { conversation_id: 'line\nbreak' }],
];

for (const mode of dbModes()) {
  describe(`agent_config validated at submit (${mode})`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(mode);
    });
    after(() => t?.close());

    const post = (url: string, payload: Record<string, unknown>) =>
      t.inject({ method: 'POST', url, payload });

    function assertNamed(res: { statusCode: number; body: string }, field: string): void {
      assert.equal(res.statusCode, 422, res.body);
      const body = json<Body>(res);
      assert.equal(body.code, 'VALIDATION_ERROR');
      assert.equal(body.details.errors[0].field, `agent_config.${field}`);
      assert.match(body.error, new RegExp(`agent_config\\.${field}`));
    }

    it('refuses each known field with a bad value, naming it', async () => {
      for (const [field, agent_config] of BAD)
        assertNamed(await post('/api/v1/tasks', { problem_id: 'p-1', agent_config }), field);
    });

    it('refuses it inside parameters, in a batch item and in an experiment config', async () => {
      const bad = { temperature: 'hot' };
      assertNamed(
        await post('/api/v1/tasks', { problem_id: 'p-1', parameters: { agent_config: bad } }),
        'temperature',
      );
      assertNamed(
        await post('/api/v1/tasks/batch', {
          tasks: [{ problem_id: 'p-1' }, { problem_id: 'p-2', agent_config: bad }],
        }),
        'temperature',
      );
      assertNamed(
        await post('/api/v1/experiments', {
          name: 'bad-config',
          problems: ['p-1'],
          agent_configs: [{ model: 'm' }, bad],
          repetitions: 1,
        }),
        'temperature',
      );
      const listed = json<Body>(await t.inject({ method: 'GET', url: '/api/v1/tasks' }));
      assert.equal(listed.total, 0, 'a refused batch or experiment creates nothing');
    });

    it('accepts valid values and keeps unknown keys as given', async () => {
      const agent_config = {
        model: 'scripted:solver',
        temperature: 0.7,
        top_p: 1,
        max_tokens: 512,
        prompt_style: 'react',
        my_agent: { tools: ['kubectl'] },
      };
      const res = await post('/api/v1/tasks', { problem_id: 'p-1', agent_config });
      assert.equal(res.statusCode, 201, res.body);
      assert.deepEqual(json<Body>(res).parameters.agent_config, agent_config);
      const nulls = await post('/api/v1/tasks', { problem_id: 'p-1', agent_config: { temperature: null } });
      assert.equal(nulls.statusCode, 201, 'null means "not set", as for the other options');
      assert.equal(json<Body>(nulls).parameters.agent_config.model, 'gpt-4o');
    });
  });
}
