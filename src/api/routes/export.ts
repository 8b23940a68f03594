/**
 * Exports (issue 13): GET /api/v1/export streams every finished trajectory the filters select,
 * in the chosen format, in finish-cursor order, with bounded memory (one page of tasks at a
 * time, and the client's pace is the reader's pace). The range is fixed when the request
 * arrives (x-export-until), so an export is a snapshot even while tasks keep finishing, and a
 * client that lost the connection asks again with after=<last cursor>&until=<same>.
 * GET /api/v1/export/schema serves the JSON Schema of a trajectories.jsonl line.
 */
import { PassThrough, Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Static } from 'typebox';
import { type Cursor, formatCursor, parseCursor } from '../../datasets/cursor.ts';
import type { ExportFilter } from '../../datasets/export/filter.ts';
import { type ExportFormat, lookupFormat } from '../../datasets/export/formats.ts';
import { JsonLinePieces } from '../../datasets/export/json-pieces.ts';
import { countExportTasks, exportRange, readTrajectories } from '../../datasets/export/reader.ts';
import { TRAJECTORY_SCHEMA_VERSION, TrajectoryRecord } from '../../datasets/export/record.ts';
import { heapWhileExporting } from '../../server/heap.ts';
import { invalid } from '../errors.ts';
import { errors } from '../schemas/common.ts';
import { ExportQuery } from '../schemas/export.ts';
import type { RouteOptions } from '../types.ts';
import { parseLabelFilter } from './tasks.ts';

const tags = ['export'];

type Query = Static<typeof ExportQuery>;

function toFilter(q: Query): ExportFilter {
  const labels = parseLabelFilter(q.label);
  return {
    experiment_id: q.experiment_id,
    group_id: q.group_id,
    problem_id: q.problem_id,
    backend_type: q.backend_type,
    worker_id: q.worker_id,
    model: q.model,
    statuses: q.status ? q.status.split(',') : undefined,
    labels: Object.keys(labels).length > 0 ? labels : undefined,
    policy_version_min: q.policy_version_min,
    policy_version_max: q.policy_version_max,
    completed_after: q.completed_after,
    completed_before: q.completed_before,
    min_reward: q.min_reward,
    max_reward: q.max_reward,
    reward_name: q.reward_name,
    attempts: q.attempts ?? 'all',
  };
}

function cursorParam(name: 'after' | 'until', text: string | undefined): Cursor | undefined {
  if (text === undefined) return undefined;
  const c = parseCursor(text);
  if (!c)
    throw invalid(name, 'is not a cursor this server wrote (<txid>-<id> or 0)', { value: text }, 'query');
  return c;
}

/** The records as the format's bytes; stops (and errors the response) when the server closes. */
function body(
  format: ExportFormat,
  records: AsyncGenerator<TrajectoryRecord>,
  closing: AbortSignal,
): Readable {
  const stopIfClosing = () => {
    if (closing.aborted)
      throw new Error('the server is shutting down; resume the export from its last cursor');
  };
  if (format.kind === 'lines') {
    return Readable.from(
      (async function* () {
        // Lines in pieces of ~64 KB (json-pieces.ts), made as they are sent: no record is
        // ever one big string, however long.
        const lines = new JsonLinePieces();
        for await (const record of records) {
          stopIfClosing();
          for (const doc of format.convert(record)) yield* lines.line(doc);
        }
        const rest = lines.rest();
        if (rest) yield rest;
      })(),
      // One piece ahead, not the default sixteen.
      { highWaterMark: 1 },
    );
  }
  const out = new PassThrough();
  const writer = format.writer(out);
  (async () => {
    try {
      for await (const record of records) {
        stopIfClosing();
        if (out.destroyed) return;
        await writer.write(record);
      }
      await writer.end();
      out.end();
    } finally {
      writer.close();
    }
  })().catch((err: unknown) => out.destroy(err as Error));
  return out;
}

export const exportRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { deps }) => {
  const db = deps.queue.db;

  app.get(
    '/export',
    {
      schema: {
        tags,
        summary: 'Export finished trajectories (streamed)',
        description:
          'Every finished task attempt the filters select, in the order the tasks finished, as JSONL (trajectories, openai-chat, tokens, atif) or Parquet. Headers: x-export-until (the snapshot bound; pass it back with after=<last cursor> to resume), x-export-total (tasks in range, before reward bounds), x-export-schema-version, x-export-server-version.',
        querystring: ExportQuery,
        response: {
          200: {
            description: 'The export, streamed.',
            content: {
              'application/x-ndjson': { schema: { type: 'string' } },
              'application/vnd.apache.parquet': { schema: { type: 'string', format: 'binary' } },
            },
          },
          ...errors(422, 503),
        },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const name = q.format ?? 'trajectories';
      const format = lookupFormat(name);
      if (!format) throw invalid('format', 'is not available on this server', { value: name }, 'query');
      const filter = toFilter(q);
      const range = await exportRange(db, cursorParam('after', q.after), cursorParam('until', q.until));
      const total = await countExportTasks(db, filter, range);
      const records = readTrajectories(db, filter, range);
      reply
        .header('x-export-until', formatCursor(range.until))
        .header('x-export-total', String(total))
        .header('x-export-schema-version', TRAJECTORY_SCHEMA_VERSION)
        .header('x-export-server-version', deps.version)
        .header('content-disposition', `attachment; filename="export-${format.name}${format.extension}"`)
        .type(format.contentType);
      const stream = body(format, records, deps.closing);
      stream.on('error', (err) => req.log.warn({ err }, 'export stopped before its end'));
      stream.once('close', heapWhileExporting());
      // The response schema describes bytes; the type provider cannot see a stream is those.
      return reply.send(stream as unknown as string);
    },
  );

  app.get(
    '/export/schema',
    {
      schema: {
        tags,
        summary: 'JSON Schema of a trajectories.jsonl line',
        response: {
          200: { description: 'JSON Schema (draft 2020-12).', type: 'object', additionalProperties: true },
        },
      },
    },
    async () => ({ $schema: 'https://json-schema.org/draft/2020-12/schema', ...TrajectoryRecord }),
  );
};
