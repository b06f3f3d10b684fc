/**
 * Why Herald ended a connection. Sent to the client as the data of a `disconnect` event (when the
 * connection can still take it), so a client knows whether to reconnect.
 */
export interface DisconnectReason {
  /** Stable machine-readable code. */
  readonly code: string;
  /** Whether the client should reconnect (with its Last-Event-ID). */
  readonly reconnect: boolean;
  /** Whether the connection can still take a final event (a slow consumer's cannot). */
  readonly notify: boolean;
}

export const Disconnect = {
  /** An operator or backend closed the user's connections (`DELETE /users/{id}/connections`). */
  closedByServer: { code: 'closed-by-server', reconnect: false, notify: true },
  /** The connection's unsent output passed the bound; the client resumes from its last id. */
  slowConsumer: { code: 'slow-consumer', reconnect: true, notify: false },
  /** The server is shutting down; reconnect (a load balancer sends the client to another node). */
  shutdown: { code: 'shutdown', reconnect: true, notify: true },
  /** The log could not be read for replay; retry later. */
  logUnavailable: { code: 'log-unavailable', reconnect: true, notify: true },
  /** The connection's token expired; reconnect with a fresh token (and the Last-Event-ID). */
  tokenExpired: { code: 'token-expired', reconnect: true, notify: true },
} as const satisfies Record<string, DisconnectReason>;
