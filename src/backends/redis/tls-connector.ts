import { isIP } from 'node:net';
import { type ConnectionOptions, connect, type TLSSocket } from 'node:tls';
import { AbstractConnector } from 'ioredis';

/** What ioredis hands a connector: the client's options (those read here). */
interface TlsConnectorOptions {
  readonly host?: string;
  readonly port?: number;
  /** `true` for a `rediss://` URL, or Node's TLS options. */
  readonly tls?: ConnectionOptions | boolean;
  readonly disconnectTimeout: number;
}

/**
 * ioredis's TLS connection (`StandaloneConnector`) with two differences:
 *
 * - the socket keeps an `error` listener for its whole life. ioredis listens with `once`, and a TLS
 *   handshake can fail twice (a certificate refused, then the server's alert; a reset mid-handshake): the
 *   second error had no listener and ended the process (redis/ioredis#961, closed without a fix);
 * - a host name is sent as SNI (`servername`), as `https` does and `tls.connect` does not: managed Redis
 *   services behind a TLS proxy route by it.
 */
export class TlsConnector extends AbstractConnector {
  private readonly options: TlsConnectorOptions;

  /** `options` are the client's (ioredis types them `unknown`). */
  constructor(options: unknown) {
    super((options as TlsConnectorOptions).disconnectTimeout);
    this.options = options as TlsConnectorOptions;
  }

  connect(): Promise<TLSSocket> {
    this.connecting = true;
    const { host = 'localhost', port = 6379 } = this.options;
    const tls = typeof this.options.tls === 'object' ? this.options.tls : {};
    return new Promise((resolve, reject) => {
      // A tick later, as ioredis does: the client listens for the stream once this promise resolved.
      process.nextTick(() => {
        if (!this.connecting) {
          reject(new Error('Connection is closed.'));
          return;
        }
        const stream = connect({
          host,
          port,
          ...(isIP(host) === 0 ? { servername: host } : {}),
          ...tls,
        });
        stream.on('error', (error) => {
          this.firstError ??= error;
        });
        this.stream = stream;
        resolve(stream);
      });
    });
  }
}
