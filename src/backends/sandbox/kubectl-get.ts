/** `kubectl get`: tables (plain, wide, -A, labels), json, yaml, name, jsonpath, custom-columns. */

import { table, toJson, toYaml } from './format.ts';
import { evaluate, renderJsonPath } from './jsonpath.ts';
import {
  flag,
  hasFlag,
  KIND_PREFIX,
  type KubectlArgs,
  type ResourceKind,
  resourceTargets,
} from './kubectl-args.ts';
import { listItems, type ResourceItem, TABLES } from './resources.ts';
import { type CommandResult, CommandTimeout, fail, ok, type ShellContext } from './shell.ts';

export function namespaceOf(args: KubectlArgs): string {
  return flag(args, '-n', '--namespace') ?? 'default';
}

export function allNamespaces(args: KubectlArgs): boolean {
  return hasFlag(args, '-A', '--all-namespaces');
}

function matchesSelector(labels: Record<string, string>, selector: string): boolean {
  return selector.split(',').every((term) => {
    const t = term.trim();
    if (!t) return true;
    const m = /^([^!=]+)(!=|==|=)(.*)$/.exec(t);
    if (!m) return t.startsWith('!') ? !(t.slice(1) in labels) : t in labels;
    const [, key, op, value] = m;
    return op === '!=' ? labels[key!.trim()] !== value!.trim() : labels[key!.trim()] === value!.trim();
  });
}

/** `--field-selector a.b=v,c!=w`, compared against the object's JSON. */
function matchesFieldSelector(item: ResourceItem, selector: string): boolean {
  return selector.split(',').every((term) => {
    const m = /^([^!=]+)(!=|==|=)(.*)$/.exec(term.trim());
    if (!m) return true;
    const actual = evaluate([item.json], `.${m[1]!.trim()}`)[0];
    const equal = String(actual ?? '') === m[3]!.trim();
    return m[2] === '!=' ? !equal : equal;
  });
}

function sortItems(items: ResourceItem[], sortBy: string): ResourceItem[] {
  const path = sortBy.replace(/^\{|\}$/g, '').replace(/^\$/, '');
  const key = (item: ResourceItem) => evaluate([item.json], path)[0];
  return [...items].sort((a, b) => {
    const x = key(a);
    const y = key(b);
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    return String(x ?? '').localeCompare(String(y ?? ''));
  });
}

/**
 * A cell as kubectl's custom-columns printer writes it: Go's `%v` of the decoded value, so a
 * map is `map[app:geo tier:db]` (keys sorted) and a list `[a b]`.
 */
function goValue(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (Array.isArray(v)) return `[${v.map(goValue).join(' ')}]`;
  if (typeof v === 'object')
    return `map[${Object.keys(v)
      .sort()
      .map((k) => `${k}:${goValue((v as Record<string, unknown>)[k])}`)
      .join(' ')}]`;
  return String(v);
}

function customColumns(spec: string, items: ResourceItem[], headers: boolean): string {
  const columns = spec.split(',').map((c) => {
    const [title, path] = c.split(':');
    return { title: title ?? '', path: (path ?? '').replace(/^\{|\}$/g, '') };
  });
  const rows = items.map((item) =>
    columns.map((c) => {
      const values = evaluate([item.json], c.path);
      return values.length ? values.map(goValue).join(',') : '<none>';
    }),
  );
  return table(headers ? [columns.map((c) => c.title), ...rows] : rows);
}

interface Section {
  kind: ResourceKind;
  items: ResourceItem[];
}

function renderTables(
  sections: Section[],
  args: KubectlArgs,
  namespace: string | null,
  prefixed: boolean,
): string {
  const wide = flag(args, '-o', '--output') === 'wide';
  const showLabels = hasFlag(args, '--show-labels');
  const headers = !hasFlag(args, '--no-headers');
  const blocks = sections
    .filter((s) => s.items.length > 0)
    .map((section) => {
      const spec = TABLES[section.kind];
      const header = [
        ...(namespace === null && spec.namespaced ? ['NAMESPACE'] : []),
        ...spec.header,
        ...(wide ? spec.wideHeader : []),
        ...(showLabels ? ['LABELS'] : []),
      ];
      const rows = section.items.map((item) => {
        const row = [...item.row];
        if (prefixed) row[0] = `${KIND_PREFIX[section.kind]}/${row[0]}`;
        return [
          ...(namespace === null && spec.namespaced ? [item.namespace ?? ''] : []),
          ...row,
          ...(wide ? item.wide : []),
          ...(showLabels
            ? [
                Object.entries(item.labels)
                  .map(([k, v]) => `${k}=${v}`)
                  .join(',') || '<none>',
              ]
            : []),
        ];
      });
      return table(headers ? [header, ...rows] : rows);
    });
  return blocks.join('\n');
}

function renderStructured(
  output: string,
  items: ResourceItem[],
  single: boolean,
  sections: Section[],
  args: KubectlArgs,
  namespace: string | null,
): CommandResult {
  const list = {
    apiVersion: 'v1',
    items: items.map((i) => i.json),
    kind: 'List',
    metadata: { resourceVersion: '' },
  };
  const doc = single ? items[0]!.json : list;
  if (output === 'json') return ok(toJson(doc));
  if (output === 'yaml') return ok(toYaml(doc));
  if (output === 'name')
    return ok(sections.flatMap((s) => s.items.map((i) => `${KIND_PREFIX[s.kind]}/${i.name}\n`)).join(''));
  if (output.startsWith('jsonpath=') || output.startsWith('jsonpath-as-json='))
    return ok(renderJsonPath(output.slice(output.indexOf('=') + 1), doc));
  if (output.startsWith('jsonpath')) return fail('error: template format specified but no template given\n');
  if (output.startsWith('custom-columns='))
    return ok(customColumns(output.slice(15), items, !hasFlag(args, '--no-headers')));
  if (output === 'wide' || output === '')
    return ok(renderTables(sections, args, namespace, sections.length > 1));
  return fail(
    `error: unable to match a printer suitable for the output format "${output}", allowed formats are: custom-columns,custom-columns-file,go-template,go-template-file,json,jsonpath,jsonpath-as-json,jsonpath-file,name,template,templatefile,wide,yaml\n`,
  );
}

export function kubectlGet(args: KubectlArgs, ctx: ShellContext): CommandResult {
  if (hasFlag(args, '-w', '--watch')) throw new CommandTimeout();
  const words = args.positional.slice(1);
  if (words.length === 0) {
    return fail(
      'You must specify the type of resource to get. Use "kubectl api-resources" for a complete list of supported resources.\n\nerror: Required resource not specified.\nUse "kubectl explain <resource>" for a detailed description of that resource (e.g. kubectl explain pods).\nSee \'kubectl get -h\' for help and examples\n',
    );
  }
  const targets = resourceTargets(words);
  if (targets.unknown !== undefined)
    return fail(`error: the server doesn't have a resource type "${targets.unknown}"\n`);
  const namespace = allNamespaces(args) ? null : namespaceOf(args);
  const selector = flag(args, '-l', '--selector');
  const slashForm = words[0]!.includes('/');
  const sections: Section[] = [];
  const missing: string[] = [];
  const kinds = slashForm ? [...new Set(targets.kinds)] : targets.kinds;
  for (const kind of kinds) {
    let items = listItems(ctx.cluster, kind, namespace);
    const wanted = slashForm ? targets.names.filter((_, i) => targets.kinds[i] === kind) : targets.names;
    if (wanted.length > 0) {
      const picked: ResourceItem[] = [];
      for (const name of wanted) {
        const item = items.find((i) => i.name === name);
        if (item) picked.push(item);
        else
          missing.push(
            `Error from server (NotFound): ${kind === 'deployments' || kind === 'replicasets' ? `${kind}.apps` : kind} "${name}" not found\n`,
          );
      }
      items = picked;
    }
    if (selector) items = items.filter((i) => matchesSelector(i.labels, selector));
    const fieldSelector = flag(args, '--field-selector');
    if (fieldSelector) items = items.filter((i) => matchesFieldSelector(i, fieldSelector));
    const sortBy = flag(args, '--sort-by');
    if (sortBy) items = sortItems(items, sortBy);
    sections.push({ kind, items });
  }
  const items = sections.flatMap((s) => s.items);
  const output = flag(args, '-o', '--output') ?? '';
  const named = targets.names.length > 0;
  if (items.length === 0) {
    if (missing.length) return { stdout: '', stderr: missing.join(''), code: 1 };
    if (output === 'json' || output === 'yaml' || output.startsWith('jsonpath'))
      return renderStructured(output, [], false, sections, args, namespace);
    const where = namespace === null ? '' : TABLES[kinds[0]!].namespaced ? ` in ${namespace} namespace` : '';
    return ok('', `No resources found${where}.\n`);
  }
  const single = named && items.length === 1 && targets.names.length === 1 && sections.length === 1;
  const result = renderStructured(output, items, single, sections, args, namespace);
  return missing.length ? { ...result, stderr: missing.join(''), code: 1 } : result;
}
