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
  async function request<T>(
    method: string,
    path: string,
    body?: unknown,
    extra: Record<string, string> = {},
  ): Promise<T> {
    let res: Response;
    const headers = { ...auth, ...extra };
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new Error(
        `Cannot reach the API at ${base} (${(err as { cause?: { code?: string } }).cause?.code ?? err}). Is the server running? Set --api-url or API_URL.`,
        { cause: err },
      );
    }
    const text = await res.text();
    const data = text ? JSON.parse(text) : null;
    if (!res.ok) {
      const e = (data ?? {}) as { error?: string; code?: string; details?: unknown };
      throw new ApiError(res.status, e.code ?? `HTTP_${res.status}`, e.error ?? res.statusText, e.details);
    }
    return data as T;
  }
  return {
    get: <T>(path: string) => request<T>('GET', path),
    post: <T>(path: string, body?: unknown, headers?: Record<string, string>) =>
      request<T>('POST', path, body, headers),
  };
}

export type Client = ReturnType<typeof createClient>;
