/**
 * Discovery: the `Link: <hub>; rel="mercure"` header (RFC 8288) with the target attributes the draft
 * defines. Herald sends it on its own pages and on the subscriptions API; applications that publish
 * through Herald can send it on their resources with `discoveryLink`.
 */

/** The optional target attributes of a hub link. */
export interface DiscoveryAttributes {
  /** The last event at the time the resource was made: pass it back as `last_event_id` to miss nothing. */
  readonly lastEventId?: string | undefined;
  /** The SSE `event` type the updates of this resource carry. */
  readonly type?: string | undefined;
  /** The media type of the updates' data. */
  readonly contentType?: string | undefined;
}

/** A quoted-string of RFC 9110: backslash and double quote escaped. */
const quoted = (value: string): string => `"${value.replace(/[\\"]/g, '\\$&')}"`;

/** The `Link` header value naming `hubUrl` as the resource's Mercure hub. */
export function discoveryLink(hubUrl: string, attributes: DiscoveryAttributes = {}): string {
  let link = `<${hubUrl}>; rel="mercure"`;
  if (attributes.lastEventId !== undefined) link += `; last-event-id=${quoted(attributes.lastEventId)}`;
  if (attributes.type !== undefined) link += `; type=${quoted(attributes.type)}`;
  if (attributes.contentType !== undefined) link += `; content-type=${quoted(attributes.contentType)}`;
  return link;
}
