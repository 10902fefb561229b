// The browser's end of django-asgi-ws: one websocket that comes back by itself.
//
// A classic script that defines the global DjangoAsgiWs; client.mjs re-exports
// it as an ES module. It speaks the django-asgi-ws.v1 subprotocol to views that
// accept it (docs/wire-protocol.rst), and plain JSON to the others; the
// "JavaScript client" page of the documentation describes every option, event
// and method. ES2020, no dependency, no build step.
(() => {
  "use strict";

  const PROTOCOL = "django-asgi-ws.v1";
  // Offered after the protocol: views that do not speak it accept with this,
  // since a browser fails a handshake that selects none of those offered.
  const PLAIN = "django-asgi-ws.plain";
  const TICKET_PROTOCOL = "django-asgi-ws.ticket.";
  // A connection that stayed open this long starts the next backoff over.
  const STABLE_MS = 5000;
  // No close frame: what the client reports when it gives up on a socket itself.
  const ABNORMAL = 1006;
  const PING = '{"type":"ping"}';

  const DEFAULTS = {
    initialDelay: 500,
    maxDelay: 30000,
    backoffFactor: 2,
    restartDelay: 1000,
    connectTimeout: 10000,
    pingInterval: 25000,
    pingTimeout: 10000,
    requestTimeout: 10000,
    queueSize: 100,
    binaryType: "arraybuffer",
    protocol: true,
    ticket: null,
    ticketIn: "protocol",
    finalCodes: [],
    isFinal: null,
  };
  const NUMBERS = Object.keys(DEFAULTS).filter((name) => typeof DEFAULTS[name] === "number");
  const EVENTS = [
    "state", "open", "message", "close", "reconnecting", "stop",
    "resync", "presence", "join", "leave", "dropped", "error",
  ];

  // Codes after which connecting again cannot help: the server refuses this
  // client (4400-4499: a 4xx refusal, but for a timeout or a rate limit) or
  // this client's messages (unsupported data, invalid payload, policy, size).
  function isFinalCode(code) {
    if (code >= 4400 && code < 4500) {
      return code !== 4408 && code !== 4429;
    }
    return code === 1003 || (code >= 1007 && code <= 1009);
  }

  function toJSON(data) {
    const json = JSON.stringify(data);
    if (json === undefined) {
      throw new TypeError(`Not JSON-serializable: ${String(data)}`);
    }
    return json;
  }

  // An uncaught exception, as the console shows them, without breaking the caller.
  function reportLater(error) {
    setTimeout(() => {
      throw error;
    });
  }

  class RequestError extends Error {
    constructor(code, message) {
      super(message);
      this.name = "RequestError";
      this.code = code;
    }
  }

  class Connection {
    constructor(url, options = {}) {
      const resolved = new URL(url, globalThis.location?.href);
      resolved.protocol = resolved.protocol.replace(/^http/, "ws");
      if (!/^wss?:$/.test(resolved.protocol)) {
        throw new TypeError(`Not a websocket URL: ${url}`);
      }
      resolved.hash = "";
      for (const name of Object.keys(options)) {
        if (!(name in DEFAULTS)) {
          throw new TypeError(`Unknown option: ${name}`);
        }
      }
      this._options = { ...DEFAULTS, ...options };
      for (const name of NUMBERS) {
        if (!(this._options[name] >= 0)) {
          throw new TypeError(`The option ${name} must be a number >= 0, not ${this._options[name]}`);
        }
      }
      if (!this._options.protocol && this._options.ticket && this._options.ticketIn !== "query") {
        // Offered alone, a ticket fails the handshake: the server never selects it.
        throw new TypeError('Without the protocol, a ticket goes in the query: ticketIn: "query"');
      }
      this.url = resolved.href;
      this._listeners = new Map(EVENTS.map((name) => [name, new Set()]));
      this._state = "closed";
      this._socket = null;
      this._plain = false;
      this._queue = []; // entries waiting for an open connection, in order
      this._requests = new Map(); // id -> entry of a request sent, waiting for its reply
      this._lastId = 0;
      this._positions = new Map(); // group -> last position received (null: none)
      this._joined = new Set(); // the groups this connection joined
      this._presence = new Map(); // group -> Map(entry -> {key, meta})
      this._failures = 0; // attempts that failed since the last stable connection
      this._attempt = 0; // bumped by each attempt: an older one that resumes gives up
      this._everOpen = false;
      this._openedAt = 0;
      this._lastHeard = 0;
      this._retryTimer = 0;
      this._connectTimer = 0;
      this._pingTimer = 0;
      this._offline = globalThis.navigator?.onLine === false;
      this._onOnline = () => {
        this._offline = false;
        if (this._state === "closed") {
          this._failures = 0;
          this._connect();
        }
      };
      this._onOffline = () => {
        this._offline = true;
        if (this._state !== "stopped") {
          this._attempt += 1;
          clearTimeout(this._retryTimer);
          this._abandon(ABNORMAL, "offline");
        }
      };
      this._onVisible = () => {
        if (globalThis.document.hidden) {
          return;
        }
        // Timers of a hidden tab run late, if at all: check now, in either state.
        if (this._state === "closed") {
          this._connect();
        } else if (this._state === "open" && !this._plain && this._options.pingInterval) {
          this._ping();
        }
      };
      this._listen(true);
      this._connect();
    }

    get state() {
      return this._state;
    }

    on(name, listener) {
      const listeners = this._listeners.get(name);
      if (!listeners) {
        throw new TypeError(`Unknown event: ${name}`);
      }
      listeners.add(listener);
      return () => listeners.delete(listener);
    }

    send(data) {
      const entry = { json: toJSON(data), data };
      if (this._state === "open") {
        this._deliver(entry);
        return true;
      }
      if (this._enqueue(entry)) {
        return true;
      }
      this._emit("dropped", { data });
      return false;
    }

    request(data, { timeout = this._options.requestTimeout } = {}) {
      const entry = { json: toJSON(data), data, id: ++this._lastId };
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          entry.settle(new RequestError("timeout", `No reply within ${timeout} ms.`));
        }, timeout);
        entry.settle = (error, reply) => {
          clearTimeout(timer);
          this._requests.delete(entry.id);
          const queued = this._queue.indexOf(entry);
          if (queued >= 0) {
            this._queue.splice(queued, 1);
          }
          if (error) {
            reject(error);
          } else {
            resolve(reply);
          }
        };
        if (this._state === "open") {
          this._deliver(entry);
        } else if (!this._enqueue(entry)) {
          const why = this._state === "stopped" ? "stopped" : "dropped";
          entry.settle(new RequestError(why, `The request was not sent: the client ${why} it.`));
        }
      });
    }

    members(group) {
      const members = {};
      for (const { key, meta } of this._presence.get(group)?.values() || []) {
        (members[key] = members[key] || []).push(meta);
      }
      return members;
    }

    reconnect() {
      if (this._state === "stopped") {
        this._listen(true);
      }
      this._abandon(1000, "");
      this._failures = 0;
      this._connect();
    }

    close(code = 1000, reason = "") {
      if (this._state === "stopped") {
        return;
      }
      // First, so that a code or reason the browser refuses throws before anything changed.
      this._socket?.close(code, reason);
      this._abandon(code, reason);
      this._stop(code, reason);
    }

    _emit(name, detail) {
      for (const listener of [...this._listeners.get(name)]) {
        try {
          listener(detail);
        } catch (error) {
          reportLater(error); // and the other listeners still run
        }
      }
    }

    // An attempt that failed before its socket existed (the ticket, the URL).
    _failed(error) {
      if (this._listeners.get("error").size) {
        this._emit("error", { error });
      } else {
        reportLater(error);
      }
      this._retry(this._backoff());
    }

    _setState(state) {
      if (this._state !== state) {
        this._state = state;
        this._emit("state", { state });
      }
    }

    _listen(on) {
      const method = on ? "addEventListener" : "removeEventListener";
      globalThis[method]?.("online", this._onOnline);
      globalThis[method]?.("offline", this._onOffline);
      globalThis.document?.[method]("visibilitychange", this._onVisible);
    }

    async _connect() {
      clearTimeout(this._retryTimer);
      const attempt = ++this._attempt;
      if (this._offline) {
        this._setState("closed"); // until the browser is online again
        return;
      }
      this._setState("connecting");
      let ticket = this._options.ticket;
      try {
        // Called for every attempt: tickets are short-lived, and may be single use.
        ticket = typeof ticket === "function" ? await ticket() : ticket;
      } catch (error) {
        if (attempt === this._attempt) {
          this._failed(error);
        }
        return;
      }
      if (attempt !== this._attempt) {
        return; // closed, gone offline or restarted meanwhile
      }
      const url = new URL(this.url);
      const since = [...this._positions].filter(([, position]) => position !== null);
      if (since.length) {
        url.searchParams.delete("since");
        for (const [group, position] of since) {
          url.searchParams.append("since", `${group}:${position}`);
        }
      }
      const protocols = this._options.protocol ? [PROTOCOL, PLAIN] : [];
      if (ticket && this._options.ticketIn === "query") {
        url.searchParams.set("ws_ticket", ticket);
      } else if (ticket) {
        protocols.push(TICKET_PROTOCOL + ticket); // out of the access logs, unlike a URL
      }
      let socket;
      try {
        socket = new WebSocket(url, protocols);
      } catch (error) {
        this._failed(error);
        return;
      }
      this._socket = socket;
      socket.binaryType = this._options.binaryType;
      socket.onopen = () => {
        this._plain = socket.protocol !== PROTOCOL;
        if (this._plain) {
          this._opened();
        } // else open at the welcome: a refusal is an accept, then a close
      };
      socket.onmessage = (event) => this._receive(event.data);
      socket.onclose = (event) => this._lost(event.code, event.reason);
      this._connectTimer = setTimeout(() => this._lost(ABNORMAL, "connect timeout"), this._options.connectTimeout);
    }

    _opened() {
      clearTimeout(this._connectTimer);
      const reconnected = this._everOpen;
      this._everOpen = true;
      this._openedAt = Date.now();
      this._joined = new Set();
      this._setState("open");
      const queued = this._queue;
      this._queue = [];
      queued.forEach((entry) => this._deliver(entry));
      if (!this._plain) {
        this._watch();
      }
      this._emit("open", { plain: this._plain, reconnected });
    }

    _receive(raw) {
      this._lastHeard = Date.now();
      if (this._plain) {
        let data = raw;
        try {
          data = typeof raw === "string" ? JSON.parse(raw) : raw;
        } catch {} // not JSON: the text itself
        this._emit("message", { data, group: null, position: null });
        return;
      }
      let frame;
      try {
        frame = JSON.parse(raw);
      } catch {
        return; // the server sends JSON; nothing else is for this client
      }
      if (this._state !== "open") {
        this._opened(); // the welcome comes first
        if (this._state !== "open") {
          return; // closed by a listener of the open event
        }
      }
      const { type, group = null, position = null } = frame;
      if (type === "welcome") {
        const presence = frame.presence || {};
        for (const gone of this._presence.keys()) {
          if (!(gone in presence)) {
            this._setMembers(gone, null); // no longer heard of
          }
        }
        for (const [joined, resume] of Object.entries(frame.groups || {})) {
          this._joinedGroup(joined, resume, frame.recovered, presence[joined]);
        }
      } else if (type === "message") {
        if (group !== null) {
          this._positions.set(group, position);
        }
        const data = frame.binary ? this._decodeBinary(frame.data) : frame.data;
        this._emit("message", { data, group, position });
      } else if (type === "joined") {
        this._joinedGroup(group, position, frame.recovered, frame.members);
      } else if (type === "left") {
        this._joined.delete(group);
        this._positions.delete(group);
        this._setMembers(group, null);
      } else if (type === "gap") {
        this._positions.set(group, position);
        this._emit("resync", { groups: [group] });
      } else if (type === "join" || type === "leave") {
        this._changePresence(type, frame);
      } else if (type === "reply") {
        const entry = this._requests.get(frame.id);
        const error = frame.error && new RequestError(frame.error.code, frame.error.message);
        entry?.settle(error, frame.data);
      }
    }

    _joinedGroup(group, position, recovered, members) {
      if (!this._joined.has(group)) {
        this._joined.add(group);
        // Joined by an earlier connection: what came meanwhile is lost unless
        // the view resumed from the positions this client gave (it had none for
        // a group without history, or whose history held nothing yet).
        const given = this._positions.get(group);
        const lost = this._positions.has(group) && (given === null || recovered !== true);
        this._positions.set(group, position);
        if (lost) {
          this._emit("resync", { groups: [group] });
        }
      }
      if (members) {
        this._setMembers(group, new Map(Object.entries(members)));
      }
    }

    _decodeBinary(base64) {
      const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
      return this._options.binaryType === "blob" ? new Blob([bytes]) : bytes.buffer;
    }

    // Presence is kept entry by entry (a tab, a device), so that an event
    // about an entry the members already showed, or no longer held, changes nothing.
    _changePresence(type, { group, entry, key, meta }) {
      const entries = this._presence.get(group) || new Map();
      if (type === "join" ? entries.has(entry) : !entries.has(entry)) {
        return;
      }
      if (type === "join") {
        entries.set(entry, { key, meta });
      } else {
        entries.delete(entry);
      }
      this._emit(type, { group, key, meta });
      this._setMembers(group, entries);
    }

    _setMembers(group, entries) {
      if (entries) {
        this._presence.set(group, entries);
      } else if (!this._presence.delete(group)) {
        return;
      }
      this._emit("presence", { group, members: this.members(group) });
    }

    _deliver(entry) {
      if (entry.id === undefined) {
        this._socket.send(this._plain ? entry.json : `{"type":"message","data":${entry.json}}`);
      } else if (this._plain) {
        entry.settle(new RequestError("unsupported", "This view does not speak the protocol: no requests."));
      } else {
        this._requests.set(entry.id, entry);
        this._socket.send(`{"type":"request","id":${entry.id},"data":${entry.json}}`);
      }
    }

    _enqueue(entry) {
      if (this._state === "stopped" || this._queue.length >= this._options.queueSize) {
        return false;
      }
      this._queue.push(entry);
      return true;
    }

    // Heartbeat: after pingInterval without a frame, a ping; without an
    // answer within pingTimeout, the connection is taken for dead.
    _watch() {
      clearTimeout(this._pingTimer);
      const { pingInterval } = this._options;
      if (pingInterval) {
        this._pingTimer = setTimeout(() => {
          if (Date.now() - this._lastHeard < pingInterval) {
            this._watch();
          } else {
            this._ping();
          }
        }, this._lastHeard + pingInterval - Date.now());
      }
    }

    _ping() {
      clearTimeout(this._pingTimer);
      const sent = Date.now();
      const { pingTimeout } = this._options;
      this._socket.send(PING);
      this._pingTimer = setTimeout(() => {
        if (this._lastHeard >= sent) {
          this._watch();
        } else if (Date.now() - sent > 2 * pingTimeout) {
          // This timer ran late (a hidden tab's timers are throttled, a frozen
          // one's stopped): the answer may be waiting behind it. Ask again.
          this._ping();
        } else {
          this._lost(ABNORMAL, "ping timeout");
        }
      }, pingTimeout);
    }

    // The socket is over, or given up on: forget it. Returns whether it was open.
    _abandon(code, reason) {
      const socket = this._socket;
      const wasOpen = this._state === "open";
      clearTimeout(this._connectTimer);
      clearTimeout(this._pingTimer);
      if (socket) {
        this._socket = null;
        socket.onopen = socket.onmessage = socket.onclose = null;
        socket.close(); // nothing if already closed; a dead one's close event may take minutes
      }
      // Requests are never sent twice: the server may have acted on them.
      for (const entry of [...this._requests.values()]) {
        entry.settle(new RequestError("disconnected", "The connection closed before the reply."));
      }
      if (this._state !== "stopped") {
        this._setState("closed");
      }
      if (wasOpen) {
        this._emit("close", { code, reason });
      }
      return wasOpen;
    }

    _lost(code, reason) {
      const wasOpen = this._abandon(code, reason);
      const { finalCodes, isFinal, restartDelay } = this._options;
      if (wasOpen && Date.now() - this._openedAt >= STABLE_MS) {
        this._failures = 0;
      }
      const final = isFinal?.(code, reason) ?? (isFinalCode(code) || finalCodes.includes(code));
      if (this._offline || this._state === "stopped") {
        // offline: the online event reconnects
      } else if (final) {
        this._stop(code, reason);
      } else if (wasOpen && (code === 1001 || code === 1012)) {
        // The server is going away or restarting: back at once, but spread
        // out, so that its pages do not all come back at the same instant.
        this._retry(Math.random() * restartDelay);
      } else {
        this._retry(this._backoff());
      }
    }

    // Full jitter: anywhere between 0 and a ceiling that grows with each failure.
    _backoff() {
      const { initialDelay, backoffFactor, maxDelay } = this._options;
      const ceiling = Math.min(maxDelay, initialDelay * backoffFactor ** this._failures);
      this._failures += 1;
      return Math.random() * ceiling;
    }

    _retry(delay) {
      clearTimeout(this._retryTimer);
      this._setState("closed");
      this._retryTimer = setTimeout(() => this._connect(), delay);
      this._emit("reconnecting", { delay, failures: this._failures });
    }

    _stop(code, reason) {
      this._attempt += 1;
      clearTimeout(this._retryTimer);
      this._listen(false);
      this._setState("stopped");
      const queued = this._queue;
      this._queue = [];
      const unsent = [];
      for (const entry of queued) {
        if (entry.id === undefined) {
          unsent.push(entry.data);
        } else {
          entry.settle(new RequestError("stopped", "The client stopped before sending the request."));
        }
      }
      this._emit("stop", { code, reason, unsent });
    }
  }

  // A page that loads both client.js and client.mjs evaluates this twice: the
  // first definition stays, so that both give the same classes.
  if (!globalThis.DjangoAsgiWs) {
    globalThis.DjangoAsgiWs = Object.freeze({ Connection, RequestError });
  }
})();
