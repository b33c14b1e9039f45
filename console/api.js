// The only way the console talks to the server: the existing /api/agent and /api/manage routes.
// Errors become ApiError with the server's words, so each view can show them where they arose.
export class ApiError extends Error {
  constructor(status, body) {
    const fields = (body && body.fields) || [];
    const detail = fields.map((f) => `${f.field}: ${f.message}`).join('; ');
    super((body && body.message ? body.message : `the server answered ${status}`) +
          (detail ? ` (${detail})` : ''));
    this.status = status;
    this.code = body && body.error;
    this.fields = fields;
  }
}

export function client(base, key) {
  // ``path`` is under ``base``, or, starting with ``/api/``, a URL an answer gave (a file's).
  async function call(method, path, body) {
    const headers = { Authorization: `Bearer ${key}` };
    let payload;
    if (body instanceof FormData) payload = body;
    else if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    let answer;
    try {
      answer = await fetch(path.startsWith('/api/') ? path : base + path,
        { method, headers, body: payload });
    } catch (error) {
      throw new ApiError(0, { message: 'the server cannot be reached; check the connection' });
    }
    if (answer.status === 204) return null;
    const type = answer.headers.get('Content-Type') || '';
    if (!answer.ok) {
      const parsed = type.includes('json') ? await answer.json().catch(() => null) : null;
      throw new ApiError(answer.status, parsed);
    }
    return type.includes('json') ? answer.json() : answer.blob();
  }
  return {
    get: (path) => call('GET', path),
    post: (path, body) => call('POST', path, body),
    put: (path, body) => call('PUT', path, body),
    patch: (path, body) => call('PATCH', path, body),
    del: (path) => call('DELETE', path),
  };
}
