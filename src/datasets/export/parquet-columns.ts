/**
 * The leaf columns of the trajectory schema and how each is shredded and encoded.
 *
 * hyparquet-writer can shred nested rows itself (its dremel.js), but that walk re-derives the
 * schema's shape for every value and takes one encoding for all the leaves of a top-level
 * column. Our rows are dominated by long integer lists (a call's prompt token ids: ~60k values
 * per trajectory) sitting beside short strings in the same `conversations` column, so this
 * module plans every leaf once — its path, levels, encoding, codec, statistics — and shreds with
 * a walk that has a tight loop for lists of numbers. Measured on the export bench (bench/export.ts):
 * the library's own path spent ~20% in its shredder and ~18% in GC on BigInt copies of the ids.
 *
 * Per leaf:
 * - integers (ids, masks, counts, timestamps) use DELTA_BINARY_PACKED: compact for ids and
 *   sequences, and it takes JS numbers, so token ids are never copied into BigInts;
 * - doubles in lists (logprobs) are PLAIN; lists of numbers are left uncompressed, since snappy
 *   finds nothing to fold in delta-packed ids or logprob mantissas and costs a pass over them;
 * - statistics only on top-level scalar columns (created_at, reward, …), where readers can prune
 *   row groups with them; other columns keep the library's defaults (dictionary when it pays).
 */
import type { writeColumn } from 'hyparquet-writer/src/column.js';
import type { SchemaElement } from './parquet-schema.ts';

type ColumnEncoder = Parameters<typeof writeColumn>[0]['column'];
export type PageData = Parameters<typeof writeColumn>[0]['pageData'];

interface Step {
  name: string;
  repetition: 'REQUIRED' | 'OPTIONAL' | 'REPEATED';
  /** Read `name` from the parent value; false for a list's inner levels, which are the value itself. */
  field: boolean;
  /** For a repeated step: the repetition level of its second and later items. */
  repLevel: number;
}

export interface LeafPlan {
  /** The top-level column it belongs to. */
  top: string;
  steps: Step[];
  maxDefinitionLevel: number;
  /** Its last step is a list's element: the shredder's tight loop applies. */
  primitiveList: boolean;
  encoder: Omit<ColumnEncoder, 'compressors'>;
}

interface Node {
  element: SchemaElement;
  children: Node[];
}

function tree(schema: SchemaElement[]): Node {
  let next = 0;
  const read = (): Node => {
    const element = schema[next++]!;
    const children: Node[] = [];
    for (let i = 0; i < (element.num_children ?? 0); i++) children.push(read());
    return { element, children };
  };
  return read();
}

const isInt = (e: SchemaElement) => e.type === 'INT32' || e.type === 'INT64';

function encoder(path: SchemaElement[], root: SchemaElement, primitiveList: boolean): LeafPlan['encoder'] {
  const leaf = path.at(-1)!;
  const topLevel = path.length === 1;
  // INT64 lists (if ids are ever widened) would need a BigInt per value for PLAIN: delta takes numbers.
  const deltaList = primitiveList && leaf.type === 'INT64';
  const encoding =
    deltaList || (!primitiveList && isInt(leaf))
      ? 'DELTA_BINARY_PACKED'
      : primitiveList
        ? 'PLAIN'
        : undefined;
  return {
    columnName: path.map((e) => e.name).join('.'),
    element: leaf,
    schemaPath: [root, ...path],
    codec: deltaList ? 'UNCOMPRESSED' : 'SNAPPY',
    stats: topLevel && leaf.converted_type !== 'JSON',
    pageSize: 1_048_576,
    columnIndex: false,
    offsetIndex: true,
    encoding,
  };
}

/** Every leaf of the schema, in schema order (the order of the file's column chunks). */
export function leafPlans(schema: SchemaElement[]): LeafPlan[] {
  const root = tree(schema);
  const plans: LeafPlan[] = [];
  const walk = (node: Node, path: SchemaElement[], steps: Step[], parentIsList: boolean, reps: number) => {
    const { element } = node;
    const repetition = element.repetition_type ?? 'REQUIRED';
    const repLevel = repetition === 'REPEATED' ? reps + 1 : reps;
    // A LIST's repeated group and its element are the list value itself, not fields of it.
    const insideList = parentIsList || steps.at(-1)?.repetition === 'REPEATED';
    const step: Step = { name: element.name, repetition, field: !insideList, repLevel };
    const here = [...path, element];
    const stepsHere = [...steps, step];
    if (node.children.length === 0) {
      const primitiveList = steps.at(-1)?.repetition === 'REPEATED';
      plans.push({
        top: here[0]!.name,
        steps: stepsHere,
        maxDefinitionLevel: stepsHere.filter((s) => s.repetition !== 'REQUIRED').length,
        primitiveList,
        encoder: encoder(here, root.element, primitiveList),
      });
      return;
    }
    for (const child of node.children)
      walk(child, here, stepsHere, element.converted_type === 'LIST' && repetition !== 'REPEATED', repLevel);
  };
  for (const child of root.children) walk(child, [], [], false, 0);
  return plans;
}

/**
 * The Dremel levels and values of one leaf over a row group's rows. `values` has one slot per
 * level (undefined where a null or an empty list sits), as hyparquet-writer's pages expect.
 */
export function shred(plan: LeafPlan, rows: readonly Record<string, unknown>[]): PageData {
  const values: unknown[] = [];
  const defs: number[] = [];
  const reps: number[] = [];
  const { steps, primitiveList } = plan;
  const last = steps.length - 1;
  const slot = (value: unknown, def: number, rep: number) => {
    values.push(value);
    defs.push(def);
    reps.push(rep);
  };
  const visit = (i: number, parent: unknown, def: number, rep: number): void => {
    const step = steps[i]!;
    const value = step.field ? (parent as Record<string, unknown>)[step.name] : parent;
    if (step.repetition === 'REPEATED') {
      const items = value as readonly unknown[];
      if (items.length === 0) {
        slot(undefined, def, rep);
        return;
      }
      if (primitiveList && i === last - 1) {
        // The bulk of the data (token ids, logprobs): one slot per item, no recursion.
        slot(items[0], def + 1, rep);
        for (let k = 1; k < items.length; k++) slot(items[k], def + 1, step.repLevel);
        return;
      }
      for (let k = 0; k < items.length; k++) visit(i + 1, items[k], def + 1, k === 0 ? rep : step.repLevel);
      return;
    }
    if (value === null || value === undefined) {
      if (step.repetition === 'REQUIRED')
        throw new Error(`parquet export: ${plan.encoder.columnName} is required`);
      slot(undefined, def, rep);
      return;
    }
    const defined = step.repetition === 'OPTIONAL' ? def + 1 : def;
    if (i === last) slot(value, defined, rep);
    else visit(i + 1, value, defined, rep);
  };
  for (const row of rows) visit(0, row, 0, 0);
  return {
    values: values as PageData['values'],
    definitionLevels: plan.maxDefinitionLevel ? defs : [],
    repetitionLevels: plan.steps.some((s) => s.repetition === 'REPEATED') ? reps : [],
    maxDefinitionLevel: plan.maxDefinitionLevel,
  };
}
