import type { FastifyInstance, FastifyReply } from 'fastify';
import { HeraldError, PROBLEM_TYPE_BASE, Problems, type ProblemType } from '../errors.js';

/**
 * `GET /problems/` and `GET /problems/<code>`: the pages a problem's `type` resolves to (RFC 9457 asks that
 * a dereferenceable type give human-readable documentation). Built once from the catalogue, so a page
 * exists for every code Herald answers with and for no other.
 */
export function problemPageRoutes(app: FastifyInstance): void {
  const types: readonly ProblemType[] = Object.values(Problems);
  const pages = new Map(types.map((type) => [type.code, problemPage(type)]));
  const index = indexPage(types);
  app.get('/problems/', async (_request, reply) => html(reply, index));
  app.get<{ Params: { code: string } }>('/problems/:code', async (request, reply) => {
    const page = pages.get(request.params.code);
    if (page === undefined)
      throw new HeraldError(Problems.notFound, `no problem type ${JSON.stringify(request.params.code)}`);
    return html(reply, page);
  });
}

function html(reply: FastifyReply, body: string): FastifyReply {
  // The pages change only with a Herald release.
  return reply.type('text/html; charset=utf-8').header('cache-control', 'public, max-age=3600').send(body);
}

function problemPage(type: ProblemType): string {
  return page(
    type.title,
    `<p><code>${type.code}</code> · HTTP ${type.status}</p>
<p>${prose(type.when)}.</p>
<p>The body is an RFC 9457 problem document (<code>application/problem+json</code>): <code>detail</code>
says what exactly was wrong with this request, and members such as <code>field</code>, <code>groups</code>
or <code>retryAfter</code> appear where they help.</p>
<p><a href="${PROBLEM_TYPE_BASE}">Every problem type</a></p>`,
  );
}

function indexPage(types: readonly ProblemType[]): string {
  const rows = types
    .map(
      (type) =>
        `<tr><td><a href="${PROBLEM_TYPE_BASE}${type.code}"><code>${type.code}</code></a></td><td>${type.status}</td><td>${prose(type.when)}</td></tr>`,
    )
    .join('\n');
  return page(
    'Herald problem types',
    `<p>Every error Herald answers with is a problem document whose <code>type</code> is one of these.</p>
<table><thead><tr><th>type</th><th>status</th><th>when</th></tr></thead>
<tbody>
${rows}
</tbody></table>`,
  );
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:760px;margin:40px auto;padding:0 20px;color:#1d2330}
code{font-family:ui-monospace,monospace;font-size:90%}td,th{text-align:left;padding:4px 8px;border-bottom:1px solid #eee}</style>
</head><body><h1>${escapeHtml(title)}</h1>
${body}
</body></html>
`;
}

/** The catalogue's text as HTML: escaped, with its Markdown code spans as `<code>`. */
function prose(text: string): string {
  return escapeHtml(text).replace(/`([^`]+)`/g, '<code>$1</code>');
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
