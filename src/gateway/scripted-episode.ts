/**
 * An AIOpsLab episode as the scripted policies see it: everything is rebuilt from the request's
 * messages, since a policy has no memory between calls. The stock clients' prompt is the system
 * message (task description + API docs), the instructions as the first user message, then one user
 * message per orchestrator input ("Please take the next action", later `<observation>\nPlease take
 * the next action`) and one assistant message per reply. So each assistant reply is followed by
 * the observation its call produced.
 *
 * Also here: writing a reply AIOpsLab's parser (aiopslab/orchestrator/parser.py) accepts.
 */
import type { Msg } from './scripted-request.ts';

export type TaskType = 'detection' | 'localization' | 'analysis' | 'mitigation';

/** One call the model made and what the environment answered. */
export interface Step {
  /** The shell command of an `exec_shell("…")` call, or null for any other call or an unparsable reply. */
  command: string | null;
  /** The observation, without the orchestrator's "Please take the next action" framing. */
  output: string;
}

export interface Episode {
  /** The system message and the instructions: what the task is, on which namespace. */
  brief: string;
  type: TaskType;
  namespace: string;
  steps: Step[];
}

/**
 * AIOpsLab's task descriptions open with "assigned to detect / localize / do root cause analysis /
 * mitigate"; the loose keywords are a fallback, most specific first, since e.g. the mitigation
 * description also says "detected".
 */
export function taskTypeOf(text: string): TaskType {
  const phrase = /assigned to (detect|localize|do root cause analysis|mitigate)/i
    .exec(text)?.[1]
    ?.toLowerCase();
  if (phrase === 'detect') return 'detection';
  if (phrase === 'localize') return 'localization';
  if (phrase === 'do root cause analysis') return 'analysis';
  if (phrase === 'mitigate') return 'mitigation';
  if (/mitigat/i.test(text)) return 'mitigation';
  if (/root cause|\banalysis\b/i.test(text)) return 'analysis';
  if (/locali[sz]/i.test(text)) return 'localization';
  return 'detection';
}

/** The app's namespace from the service summary's "Namespace: x" line, if it is a plain name. */
export function namespaceOf(text: string): string | undefined {
  return /^\s*Namespace:\s*([a-z0-9][a-z0-9-]*)\s*$/im.exec(text)?.[1];
}

/** A thought and exactly one fenced block with no language tag, as AIOpsLab's parser requires. */
export function fenced(thought: string, call: string): string {
  return `${thought}\n\`\`\`\n${call}\n\`\`\``;
}

/**
 * `exec_shell("…")` as AIOpsLab's parser reads it: it strips every `"` at both ends of the
 * argument and only unescapes `\"` and `\'` (no `\\`), so a command must not start or end with a
 * double quote nor hold a backslash. The commands the policies write never do; this guards it.
 */
export function shellCall(command: string): string {
  if (/^"|"$|\\/.test(command)) throw new Error(`AIOpsLab's parser would mangle ${command}`);
  return `exec_shell("${command.replaceAll('"', '\\"')}")`;
}

/** The inverse of shellCall for one reply: the command of its single fenced `exec_shell` call. */
export function commandOf(reply: string): string | null {
  const blocks = [...reply.matchAll(/```\s*\n(.*?)\n```/gs)];
  if (blocks.length !== 1) return null;
  const call = /^\s*exec_shell\(\s*(?:command\s*=\s*)?(["'])(.*)\1\s*\)\s*$/s.exec(blocks[0]?.[1] ?? '');
  if (!call?.[2]) return null;
  return call[2].replaceAll('\\"', '"').replaceAll("\\'", "'");
}

const NEXT_ACTION = 'Please take the next action';

/**
 * The observation inside an input: everything before the last "Please take the next action"
 * (the ReAct client appends its own instructions after it).
 */
function observationOf(input: string): string {
  const at = input.lastIndexOf(NEXT_ACTION);
  return at < 0 ? input : input.slice(0, at).replace(/\n$/, '');
}

/**
 * The episode so far. The brief is the system message plus the first user message (the
 * instructions); every later assistant message is a reply whose observation is the user message
 * right after it (the last reply has none yet when the prompt ends on it, which a stock client
 * never sends). The namespace falls back to the first `test-…` name the brief mentions.
 */
export function readEpisode(messages: Msg[]): Episode {
  const firstUser = messages.findIndex((m) => m.role === 'user');
  const brief = messages
    .filter((m, i) => m.role === 'system' || i === firstUser)
    .map((m) => m.text)
    .join('\n');
  const steps: Step[] = [];
  messages.forEach((m, i) => {
    if (m.role !== 'assistant' || i < firstUser) return;
    // The deepseek style's empty filler after the instructions is not a reply.
    if (i === firstUser + 1 && m.text === '') return;
    const next = messages[i + 1];
    const output = next?.role === 'user' ? observationOf(next.text) : '';
    steps.push({ command: commandOf(m.text), output });
  });
  const namespace = namespaceOf(brief) ?? /\b(test-[a-z0-9-]+)/.exec(brief)?.[1] ?? 'default';
  return { brief, type: taskTypeOf(brief), namespace, steps };
}

/**
 * What `command` printed the first time it ran, if it did. The first time, because a command may
 * run again later (a check after a fix) and the diagnosis is about the incident as first seen.
 */
export function outputOf(episode: Episode, command: string): string | undefined {
  return episode.steps.find((s) => s.command === command)?.output;
}

export const ran = (episode: Episode, command: string): boolean => outputOf(episode, command) !== undefined;
