/** One reading of the seed's two pagination styles (page/page_size and limit/offset). */
import { invalid } from './errors.ts';

export interface PageQuery {
  page?: number;
  page_size?: number;
  limit?: number;
  offset?: number;
}

export interface Page {
  limit: number;
  offset: number;
  page: number;
  page_size: number;
}

/**
 * limit is an alias of page_size; offset and page both place the window. Giving two
 * different values for the same thing is refused rather than silently picking one.
 */
export function resolvePage(q: PageQuery, defaultSize: number): Page {
  if (q.limit !== undefined && q.page_size !== undefined && q.limit !== q.page_size)
    throw invalid('limit', 'conflicts with page_size; give one of them', {}, 'query');
  if (q.offset !== undefined && q.page !== undefined)
    throw invalid('offset', 'cannot be combined with page; give one of them', {}, 'query');
  const limit = q.limit ?? q.page_size ?? defaultSize;
  const offset = q.offset ?? ((q.page ?? 1) - 1) * limit;
  return { limit, offset, page_size: limit, page: Math.floor(offset / limit) + 1 };
}
