/**
 * The leaf columns of the trajectory schema: how each is shredded and encoded.
 *
 * Two paths, planned once per leaf:
 * - top-level scalars (task_id, created_at, reward, …: one value per row) go through
 *   hyparquet-writer's writeColumn, for its statistics (readers prune row groups with
 *   created_at, reward, …) and its dictionary encoding of repeated values; they are a few
 *   dozen values per row group, so its cost does not matter;
 * - nested leaves (everything in steps, conversations, tokens, …) are shredded record by
 *   record into typed buffers (parquet-buffers.ts) and written by parquet-pages.ts, PLAIN and
 *   compressed. They carry the bulk of the data — a trajectory's prompt token ids alone are
 *   ~60k values — and the library's path (JS arrays of values and levels, a page split that
 *   slices them, a value-by-value PLAIN writer, a JS snappy) spent ~85% of the export's time
 *   on them (measured on bench/export.ts: 112 trajectories/s).
 */
import type { writeColumn } from 'hyparquet-writer/src/column.js';
import type { LeafBuffer, PlainValues } from './parquet-buffers.ts';
import type { SchemaElement } from './parquet-schema.ts';

/**
 * The codec of every column. BROTLI at quality 1 (node:zlib, native): on the export bench's
 * data it compresses token ids ~11x (successive prompts repeat their prefix) at ~850 MB/s and
 * text ~4x at ~250 MB/s, against JS snappy's ~4x and ~3.3x at ~90 MB/s; GZIP level 1, the
 * other codec node:zlib has, gives ~9x and ~4x at ~250 / ~150 MB/s. DuckDB, pyarrow (so pandas
 * and Hugging Face datasets) and polars read BROTLI.
 */
export const CODEC = 'BROTLI';
export const PAGE_BYTES = 1_048_576;

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
  maxRepetitionLevel: number;
  /** A top-level scalar: written by hyparquet-writer, not shredded into a LeafBuffer. */
  flat: boolean;
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

function encoder(path: SchemaElement[], root: SchemaElement): LeafPlan['encoder'] {
  const leaf = path.at(-1)!;
  const flat = path.length === 1;
  return {
    columnName: path.map((e) => e.name).join('.'),
    element: leaf,
    schemaPath: [root, ...path],
    codec: CODEC,
    stats: flat && leaf.converted_type !== 'JSON',
    pageSize: PAGE_BYTES,
    columnIndex: false,
    offsetIndex: true,
    // Flat integers (attempt, timestamps): DELTA takes JS numbers, and is compact for sequences.
    // Otherwise flat columns keep the library's choice (dictionary when it pays).
    encoding: flat ? (isInt(leaf) ? 'DELTA_BINARY_PACKED' : undefined) : 'PLAIN',
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
        maxRepetitionLevel: repLevel,
        flat: here.length === 1,
        primitiveList,
        encoder: encoder(here, root.element),
      });
      return;
    }
    for (const child of node.children)
      walk(child, here, stepsHere, element.converted_type === 'LIST' && repetition !== 'REPEATED', repLevel);
  };
  for (const child of root.children) walk(child, [], [], false, 0);
  return plans;
}

/** How a leaf's non-null values are appended, from its physical and converted type. */
export type AppendValue = (values: PlainValues, value: unknown) => void;

function valueAppender(plan: LeafPlan): AppendValue {
  const { element, columnName } = plan.encoder;
  switch (element.type) {
    case 'INT32':
      return (values, v) => {
        if (((v as number) | 0) !== v)
          throw new Error(`parquet export: ${columnName}: not an int32: ${String(v)}`);
        values.int32(v as number);
      };
    case 'INT64':
      return (values, v) => values.int64(v as number | bigint, columnName);
    case 'DOUBLE':
      return (values, v) => values.double(v as number, columnName);
    case 'BOOLEAN':
      return (values, v) => values.boolean(v as boolean, columnName);
    default:
      if (element.converted_type === 'JSON') return (values, v) => values.string(JSON.stringify(v));
      return (values, v) => {
        if (typeof v !== 'string') throw new Error(`parquet export: ${columnName}: not a string`);
        values.string(v);
      };
  }
}

/** A list of numbers in one call: the bulk of the data (token ids, masks, logprobs). */
function listAppender(plan: LeafPlan): ((values: PlainValues, items: readonly unknown[]) => void) | null {
  const { element, columnName } = plan.encoder;
  if (!plan.primitiveList) return null;
  if (element.type === 'INT32') return (values, items) => values.int32List(items, columnName);
  if (element.type === 'DOUBLE') return (values, items) => values.doubleList(items, columnName);
  return null;
}

/**
 * Shreds rows into a nested leaf's buffer: each row's Dremel levels and values, appended.
 * One per leaf, built once; a class rather than a closure per row, as it runs for every leaf
 * of every record.
 */
export class LeafShredder {
  private readonly steps: Step[];
  private readonly last: number;
  private readonly append: AppendValue;
  private readonly appendList: ReturnType<typeof listAppender>;
  private buffer!: LeafBuffer;

  constructor(private readonly plan: LeafPlan) {
    this.steps = plan.steps;
    this.last = plan.steps.length - 1;
    this.append = valueAppender(plan);
    this.appendList = listAppender(plan);
  }

  shred(row: Record<string, unknown>, buffer: LeafBuffer): void {
    this.buffer = buffer;
    buffer.startRow();
    this.visit(0, row, 0, 0);
  }

  private visit(i: number, parent: unknown, def: number, rep: number): void {
    const step = this.steps[i]!;
    const value = step.field ? (parent as Record<string, unknown>)[step.name] : parent;
    if (step.repetition === 'REPEATED') this.visitList(i, value as readonly unknown[], def, rep);
    else if (value === null || value === undefined) {
      if (step.repetition === 'REQUIRED')
        throw new Error(`parquet export: ${this.plan.encoder.columnName} is required`);
      this.buffer.empty(def, rep);
    } else {
      const defined = step.repetition === 'OPTIONAL' ? def + 1 : def;
      if (i < this.last) this.visit(i + 1, value, defined, rep);
      else {
        this.buffer.defs.push(defined);
        this.buffer.reps.push(rep);
        this.append(this.buffer.values, value);
      }
    }
  }

  private visitList(i: number, items: readonly unknown[], def: number, rep: number): void {
    const { repLevel } = this.steps[i]!;
    if (items.length === 0) this.buffer.empty(def, rep);
    else if (i === this.last - 1 && this.appendList) {
      // A list of numbers: one level slot per item, all at the same depth, filled in bulk.
      const { defs, reps } = this.buffer;
      defs.fill(def + 1, items.length);
      reps.push(rep);
      reps.fill(repLevel, items.length - 1);
      this.appendList(this.buffer.values, items);
    } else {
      for (let k = 0; k < items.length; k++) this.visit(i + 1, items[k], def + 1, k === 0 ? rep : repLevel);
    }
  }
}

/**
 * A top-level leaf's values over a row group, as hyparquet-writer's writeColumn takes them
 * (undefined for a null, with its definition level).
 */
export function flatPageData(plan: LeafPlan, column: readonly unknown[]): PageData {
  const optional = plan.maxDefinitionLevel > 0;
  const values = column.map((v) => {
    if (v !== null && v !== undefined) return v;
    if (!optional) throw new Error(`parquet export: ${plan.encoder.columnName} is required`);
    return undefined;
  });
  return {
    values: values as PageData['values'],
    definitionLevels: optional ? column.map((v) => (v === null || v === undefined ? 0 : 1)) : [],
    repetitionLevels: [],
    maxDefinitionLevel: plan.maxDefinitionLevel,
  };
}
