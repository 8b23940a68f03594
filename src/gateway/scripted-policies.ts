/**
 * What each scripted policy "means" to say, before `max_tokens` cuts it: `echo`, `tools` (call
 * the first tool offered, then answer once its result is in), and three AIOpsLab players, each
 * reply one fenced block without a language tag (what AIOpsLab's parser takes):
 *
 * - `aiopslab`: a couple of exploratory shell commands, then the `submit(...)` the task type
 *   expects, with a shallow guess;
 * - `solver`: investigates with kubectl, diagnoses from the symptoms, fixes and checks when the
 *   task is mitigation, then submits the right answer (scripted-solver.ts);
 * - `wrong`: a well-formed wrong answer after at most one look (scripted-wrong.ts).
 */
import { fenced, namespaceOf, readEpisode, type TaskType, taskTypeOf } from './scripted-episode.ts';
import { isObject, type Json, type Msg, type Parsed, type Policy, type Tool } from './scripted-request.ts';
import { solverNext } from './scripted-solver.ts';
import { wrongNext } from './scripted-wrong.ts';

/** Exploratory steps of the aiopslab policy before it submits. */
export const AIOPSLAB_EXPLORE_STEPS = 2;

export interface Draft {
  content: string;
  toolCall?: { name: string; arguments: string };
}

function lastOf(messages: Msg[], role: string): Msg | undefined {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i]?.role === role) return messages[i];
  return undefined;
}

function echo(p: Parsed): Draft {
  return { content: `echo: ${lastOf(p.messages, 'user')?.text ?? ''}` };
}

/** A plausible value per declared parameter: the first enum value, the user's text for strings. */
function argumentsFor(tool: Tool, userText: string): string {
  const props = isObject(tool.parameters.properties) ? tool.parameters.properties : {};
  const args: Json = {};
  for (const [key, schema] of Object.entries(props)) {
    const s = isObject(schema) ? schema : {};
    if (Array.isArray(s.enum) && s.enum.length > 0) args[key] = s.enum[0];
    else if (s.type === 'string') args[key] = userText || 'example';
    else if (s.type === 'integer' || s.type === 'number') args[key] = 1;
    else if (s.type === 'boolean') args[key] = true;
    else if (s.type === 'array') args[key] = [];
    else if (s.type === 'object') args[key] = {};
    else args[key] = null;
  }
  return JSON.stringify(args);
}

function tools(p: Parsed): Draft {
  const tool = p.tools[0];
  if (!tool) return echo(p);
  const last = p.messages.at(-1);
  if (last?.role === 'tool') return { content: `The tool returned: ${last.text}` };
  const userText = lastOf(p.messages, 'user')?.text ?? '';
  return {
    content: `Calling ${tool.name}.`,
    toolCall: { name: tool.name, arguments: argumentsFor(tool, userText) },
  };
}

/**
 * A service to blame: the deployment behind the first pod the observations show as not Running
 * (`kubectl get pods` lines, pod names `<deployment>-<hash>-<hash>`), else `frontend`.
 */
function suspectOf(observations: string): string {
  const line = /^(?:\S+\s+)?([a-z0-9][a-z0-9-]*?)-[a-z0-9]{5,10}-[a-z0-9]{5}\s+\d+\/\d+\s+(\S+)/gm;
  for (const m of observations.matchAll(line)) {
    if (m[2] !== 'Running' && m[1]) return m[1];
  }
  return 'frontend';
}

function submitCall(type: TaskType, observations: string): string {
  switch (type) {
    case 'detection':
      return 'submit("Yes")';
    case 'localization':
      return `submit(${JSON.stringify([suspectOf(observations)])})`;
    case 'analysis':
      return 'submit({"system_level": "Application", "fault_type": "Misconfiguration"})';
    case 'mitigation':
      return 'submit()';
  }
}

function exploreCall(step: number, namespace: string | undefined): string {
  const scope = namespace ? `-n ${namespace}` : '-A';
  const commands = ['kubectl get pods -A', `kubectl get events ${scope} --sort-by=.lastTimestamp`];
  return `exec_shell(${JSON.stringify(commands[step % commands.length])})`;
}

/** One step of an episode; the step is the number of assistant replies already in the prompt. */
function aiopslab(p: Parsed): Draft {
  const step = p.messages.filter((m) => m.role === 'assistant').length;
  const firstUser = p.messages.findIndex((m) => m.role === 'user');
  const brief = p.messages
    .filter((m, i) => m.role === 'system' || i === firstUser)
    .map((m) => m.text)
    .join('\n');
  const observations = p.messages
    .filter((m, i) => m.role === 'user' && i !== firstUser)
    .map((m) => m.text)
    .join('\n');
  const type = taskTypeOf(brief);
  if (step < AIOPSLAB_EXPLORE_STEPS) {
    const thought =
      step === 0 ? 'First I list the pods to see what is unhealthy.' : 'Next I check recent events.';
    return { content: fenced(thought, exploreCall(step, namespaceOf(brief))) };
  }
  return {
    content: fenced(`I have seen enough for the ${type} task; submitting.`, submitCall(type, observations)),
  };
}

const solver = (p: Parsed): Draft => ({ content: solverNext(readEpisode(p.messages)) });
const wrong = (p: Parsed): Draft => ({ content: wrongNext(readEpisode(p.messages)) });

export const POLICIES: Record<Policy, (p: Parsed) => Draft> = { echo, aiopslab, tools, solver, wrong };
