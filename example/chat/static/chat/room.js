// The page of a chat room: one websocket to /ws/rooms/<slug>/ (chat/ws_views.py),
// opened again, after a growing pause, whenever it closes for a reason that may pass.
(function () {
  "use strict";

  // Close codes of chat/ws_views.py: reconnecting would not help.
  const LOGIN_REQUIRED = 4401;
  const NO_SUCH_ROOM = 4404;
  // Pause before reconnecting: doubled after each attempt that fails, up to the
  // cap, and drawn between half and all of that so that the pages of a
  // restarted server do not all come back at the same instant.
  const RETRY_FIRST_MS = 500;
  const RETRY_MAX_MS = 10000;
  // While the user types, a typing notice goes out at most this often...
  const TYPING_EVERY_MS = 2000;
  // ...and the others show it for this long unless a new one comes.
  const TYPING_SHOWN_MS = 3000;

  const slug = JSON.parse(document.getElementById("room-slug").textContent);
  const me = JSON.parse(document.getElementById("username").textContent);
  const status = document.getElementById("status");
  const loginLink = document.getElementById("login");
  const messages = document.getElementById("messages");
  const typingLine = document.getElementById("typing");
  const errorLine = document.getElementById("error");
  const onlineLine = document.getElementById("online");
  const form = document.getElementById("form");
  const input = document.getElementById("message");

  let socket = null;
  let failures = 0; // attempts in a row that did not reach the room
  let lastId = 0; // the newest message shown; a resync asks for what came after it
  // The position of the last message received live: a reconnect gives it back,
  // and the room's history sends what was missed since.
  let lastPosition = null;
  let resyncing = false; // reconnecting at once, without the position
  let lastTypingSent = 0;
  const pending = new Map(); // client_id -> list item of a message not yet confirmed
  const typing = new Map(); // username -> timer that takes them off the typing line

  function setStatus(state, text) {
    status.dataset.state = state;
    status.textContent = text;
  }

  function connect() {
    const params = new URLSearchParams();
    if (lastId) {
      params.set("after", lastId);
    }
    if (lastPosition) {
      params.set("since", lastPosition);
    }
    const query = params.size ? "?" + params : "";
    socket = new WebSocket(wsUrl("/ws/rooms/" + encodeURIComponent(slug) + "/" + query));
    setStatus("connecting", "connecting");
    socket.addEventListener("open", onOpen);
    socket.addEventListener("message", onMessage);
    socket.addEventListener("close", onClose);
  }

  function send(data) {
    if (socket !== null && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(data));
    }
  }

  function onOpen() {
    setStatus("open", "connected");
    // Messages sent while the connection was down, or whose confirmation was
    // lost with it. The server stores each client_id once, so one that did
    // arrive is only confirmed again.
    for (const [clientId, item] of pending) {
      send({ type: "message", text: item.dataset.text, client_id: clientId });
    }
  }

  function onMessage(event) {
    const data = JSON.parse(event.data);
    if (data.type === "history") {
      failures = 0; // the room is reachable: the next drop starts a fresh backoff
      data.messages.forEach(show); // none when the room's history recovered what was missed
    } else if (data.type === "message") {
      lastPosition = data.position;
      show(data);
    } else if (data.type === "online") {
      onlineLine.textContent = data.users.join(", ");
    } else if (data.type === "resync") {
      // Messages were lost on the server's side: fetch them by id instead.
      lastPosition = null;
      resyncing = true;
      socket.close();
    } else if (data.type === "typing") {
      showTyping(data.user);
    } else if (data.type === "error") {
      errorLine.textContent = data.error;
      errorLine.hidden = false;
    }
  }

  function onClose(event) {
    socket = null;
    onlineLine.textContent = "";
    typing.forEach(clearTimeout);
    typing.clear();
    renderTyping();
    if (event.code === LOGIN_REQUIRED || event.code === NO_SUCH_ROOM) {
      setStatus("closed", "closed: " + event.reason);
      loginLink.hidden = event.code !== LOGIN_REQUIRED;
      for (const field of form.elements) {
        field.disabled = true;
      }
      return;
    }
    if (resyncing) {
      resyncing = false;
      connect();
      return;
    }
    const ceiling = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** failures);
    const pause = ceiling / 2 + (Math.random() * ceiling) / 2;
    failures += 1;
    setStatus("reconnecting", "reconnecting in " + (pause / 1000).toFixed(1) + " s");
    setTimeout(connect, pause);
  }

  function render(message) {
    const item = document.createElement("li");
    if (message.author === me) {
      item.classList.add("mine");
    }
    const time = document.createElement("time");
    time.dateTime = message.created;
    time.textContent = new Date(message.created).toLocaleTimeString([], {
      hour: "2-digit",
      minute: "2-digit",
    });
    const author = document.createElement("b");
    author.className = "author";
    author.textContent = message.author;
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = message.text;
    item.append(time, " ", author, " ", text);
    return item;
  }

  // Show a stored message once, in the order of ids, above the messages still pending.
  function show(message) {
    stopTyping(message.author);
    const waiting = message.client_id && pending.get(message.client_id);
    if (waiting) {
      pending.delete(message.client_id);
      waiting.remove();
    }
    lastId = Math.max(lastId, message.id);
    const shown = messages.querySelectorAll("li[data-id]");
    let next = null;
    for (const other of shown) {
      const id = Number(other.dataset.id);
      if (id === message.id) {
        return; // in both the history and the room's live messages
      }
      if (id > message.id) {
        next = other;
        break;
      }
    }
    const item = render(message);
    item.dataset.id = message.id;
    messages.insertBefore(item, next || messages.querySelector("li.pending"));
  }

  function showTyping(user) {
    clearTimeout(typing.get(user));
    typing.set(user, setTimeout(stopTyping, TYPING_SHOWN_MS, user));
    renderTyping();
  }

  function stopTyping(user) {
    if (typing.has(user)) {
      clearTimeout(typing.get(user));
      typing.delete(user);
      renderTyping();
    }
  }

  function renderTyping() {
    const names = Array.from(typing.keys());
    typingLine.hidden = names.length === 0;
    if (names.length === 1) {
      typingLine.textContent = names[0] + " is typing…";
    } else if (names.length > 1) {
      typingLine.textContent = names.slice(0, -1).join(", ") + " and " + names.at(-1) + " are typing…";
    }
  }

  // A random (version 4) UUID; crypto.randomUUID() needs https or localhost.
  function newClientId() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const text = input.value.trim();
    if (text === "") {
      return;
    }
    const clientId = newClientId();
    const item = render({ author: me, text: text, created: new Date().toISOString() });
    item.classList.add("pending");
    item.dataset.text = text;
    messages.appendChild(item);
    pending.set(clientId, item);
    send({ type: "message", text: text, client_id: clientId });
    errorLine.hidden = true;
    input.value = "";
    lastTypingSent = 0;
  });

  input.addEventListener("input", function () {
    const now = Date.now();
    if (input.value !== "" && now - lastTypingSent >= TYPING_EVERY_MS) {
      lastTypingSent = now;
      send({ type: "typing" });
    }
  });

  connect();
})();
