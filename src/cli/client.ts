/** The CLI's HTTP client: JSON in and out, API errors turned into one readable line. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown,
  ) {
    super(message);
  }
}

/** `token`: sent as `Authorization: Bearer <token>` when the API requires tokens. */
export function createClient(baseUrl: string, token?: string) {
  const base = baseUrl.replace(/\/+$/, '');
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};

  async function send(method: string, path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(`${base}${path}`, { method, ...init });
    } catch (err) {
      // An abort is the caller's own doing, not an unreachable server.
      if ((err as Error).name === 'AbortError') throw err;
      throw new Error(
        `Cannot reach the API at ${base} (${(err as { cause?: { code?: string } }).cause?.code ?? err}). Is the server running? Set --api-url or API_URL.`,
        { cause: err },
      );
    }
  }

  async function request<T>(
    method: string,
    path: string,
    body?: unknown,
    extra: Record<string, string> = {},
  ): Promise<T> {
    const headers = { ...auth, ...extra };
    const res = await send(method, path, {
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const data = text ? JSON.parse(text) : null;
    if (!res.ok) throw apiError(res, data);
    return data as T;
  }

  /**
   * A streaming GET (Server-Sent Events): resolves with the open response once the API
   * answered 2xx; an error answer throws the same ApiError as get/post.
   */
  async function open(path: string, headers: Record<string, string>, signal: AbortSignal): Promise<Response> {
    const res = await send('GET', path, {
      headers: { accept: 'text/event-stream', ...auth, ...headers },
      signal,
    });
    if (res.ok) return res;
    const text = await res.text().catch(() => '');
    let data: unknown = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      // a proxy's HTML error page: the status line says enough
    }
    throw apiError(res, data);
  }

  return {
    baseUrl: base,
    get: <T>(path: string) => request<T>('GET', path),
    post: <T>(path: string, body?: unknown, headers?: Record<string, string>) =>
      request<T>('POST', path, body, headers),
    open,
  };
}

function apiError(res: Response, data: unknown): ApiError {
  const e = (data ?? {}) as { error?: string; code?: string; details?: unknown };
  return new ApiError(res.status, e.code ?? `HTTP_${res.status}`, e.error ?? res.statusText, e.details);
}

export type Client = ReturnType<typeof createClient>;
