// Types of the global DjangoAsgiWs that client.js defines (client.d.mts gives
// the same names to ES module imports of client.mjs).

declare namespace DjangoAsgiWs {
  /** `connecting`: an attempt is under way; `open`: ready; `closed`: waiting to
   * reconnect (or for the browser to be online); `stopped`: for good. */
  type State = "connecting" | "open" | "closed" | "stopped";

  /** Who is present in a group: each key with the meta of each of its entries
   * (a tab, a device), in the order they joined. A key with no entry is absent. */
  type Members = Record<string, unknown[]>;

  /** A ticket, or a function called before every attempt to connect that returns one. */
  type Ticket = string | null | (() => string | null | Promise<string | null>);

  interface Options {
    /** The ceiling of the first pause before reconnecting, in ms. Default 500. */
    initialDelay?: number;
    /** The highest ceiling of the pause before reconnecting, in ms. Default 30000. */
    maxDelay?: number;
    /** What the ceiling is multiplied by after each failed attempt. Default 2. */
    backoffFactor?: number;
    /** The longest pause after a close with 1001 or 1012, in ms. Default 1000. */
    restartDelay?: number;
    /** How long an attempt may take to open, in ms. Default 10000. */
    connectTimeout?: number;
    /** Silence after which a ping is sent, in ms; 0 for no heartbeat. Default 25000. */
    pingInterval?: number;
    /** How long a ping may go unanswered before the connection is taken for dead, in ms. Default 10000. */
    pingTimeout?: number;
    /** How long `request()` waits for its reply, in ms. Default 10000. */
    requestTimeout?: number;
    /** How many messages and requests wait for the connection at most. Default 100. */
    queueSize?: number;
    /** What plain binary messages are given as. Default "arraybuffer". */
    binaryType?: BinaryType;
    /** Whether to offer the subprotocols django-asgi-ws.v1 and
     * django-asgi-ws.plain; false offers none, for a server that selects
     * neither (a browser fails a handshake that selects none of those
     * offered). Default true. */
    protocol?: boolean;
    /** Sent with every attempt to connect. Default null: none. */
    ticket?: Ticket;
    /** Where the ticket goes: an offered subprotocol, or the `ws_ticket`
     * query parameter. Default "protocol". */
    ticketIn?: "protocol" | "query";
    /** Close codes that stop the client, beyond the default ones. Default []. */
    finalCodes?: number[];
    /** Decides whether a close stops the client: true stops, false reconnects,
     * null or undefined leaves it to the default policy. Default null. */
    isFinal?: ((code: number, reason: string) => boolean | null | undefined) | null;
  }

  interface PresenceChange {
    group: string;
    key: string;
    meta: unknown;
  }

  /** Each event's name and the detail its listeners receive. */
  interface Events {
    state: { state: State };
    open: { plain: boolean; reconnected: boolean };
    message: { data: any; group: string | null; position: string | null };
    close: { code: number; reason: string };
    reconnecting: { delay: number; failures: number };
    stop: { code: number; reason: string; unsent: unknown[] };
    resync: { groups: string[] };
    presence: { group: string; members: Members };
    join: PresenceChange;
    leave: PresenceChange;
    dropped: { data: unknown };
    error: { error: unknown };
  }

  class Connection {
    /** Connects at once to `url`: a path, resolved against the page's address,
     * or an absolute ws:, wss:, http: or https: URL. */
    constructor(url: string | URL, options?: Options);
    /** The absolute websocket URL, without the positions of `since`. */
    readonly url: string;
    readonly state: State;
    /** Calls `listener` on each `name` event; returns a function that stops it. */
    on<Name extends keyof Events>(name: Name, listener: (detail: Events[Name]) => void): () => void;
    /** Sends `data` as JSON, or queues it until the connection opens; false
     * (and a `dropped` event) when the queue is full or the client stopped. */
    send(data: unknown): boolean;
    /** Sends `data` as a request; the promise gives the reply's data, or
     * rejects with a RequestError. Views that speak the protocol only. */
    request<Reply = any>(data: unknown, options?: { timeout?: number }): Promise<Reply>;
    /** Who is present in `group`, as last heard. */
    members(group: string): Members;
    /** Connects again at once and starts the backoff over, even once stopped. */
    reconnect(): void;
    /** Closes the connection and stops for good. */
    close(code?: number, reason?: string): void;
  }

  /** Why a request failed: the `code` and `message` of the view's error
   * reply, or the client's own code: "timeout", "disconnected", "dropped",
   * "stopped" or "unsupported". */
  class RequestError extends Error {
    constructor(code: string, message: string);
    readonly code: string;
  }
}
