// What a webhook endpoint's URL may be. http and https only, no user:password, no fragment,
// bounded length. SSRF: the platform POSTs to whatever host a company names, from inside its own
// network. Loopback and private addresses are allowed here because `npm run cli -- events listen`
// receives on 127.0.0.1; a production deployment must send webhooks through an egress proxy (or a
// network policy) that refuses private, link-local (169.254.0.0/16: cloud metadata) and loopback
// destinations, and should require https (docs/operations.md "Webhooks").
export const WEBHOOK_URL_LENGTH_MAX = 2048;

export class WebhookUrlError extends Error {
  override name = 'WebhookUrlError';
}

export function parseWebhookUrl(text: string): string {
  if (typeof text !== 'string' || text.length === 0) throw new WebhookUrlError('url: required');
  if (text.length > WEBHOOK_URL_LENGTH_MAX) throw new WebhookUrlError(`url: at most ${WEBHOOK_URL_LENGTH_MAX} characters`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new WebhookUrlError('url: not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new WebhookUrlError(`url: must be http or https, got ${url.protocol}`);
  if (url.username !== '' || url.password !== '') throw new WebhookUrlError('url: must not carry a user or password');
  if (url.hash !== '') throw new WebhookUrlError('url: must not have a fragment');
  if (url.hostname === '') throw new WebhookUrlError('url: needs a host');
  return url.toString();
}
