// The page of a chat room, on django_asgi_ws's JavaScript client (client.js):
// the client reconnects, resumes the room from its last position and keeps who
// is present; this page only shows what happens (chat/ws_views.py says what
// the room's websocket speaks).
(function () {
  "use strict";

  // Close codes of chat/ws_views.py. The client stops for good on both
  // (4400-4499 are final), and the page says why.
  const LOGIN_REQUIRED = 4401;
  // While the user types, a typing notice goes out at most this often...
  const TYPING_EVERY_MS = 2000;
  // ...and the others show it for this long unless a new one comes.
  const TYPING_SHOWN_MS = 3000;

  const url = JSON.parse(document.getElementById("room-url").textContent);
  const me = JSON.parse(document.getElementById("username").textContent);
  const status = document.getElementById("status");
  const loginLink = document.getElementById("login");
  const messages = document.getElementById("messages");
  const typingLine = document.getElementById("typing");
  const errorLine = document.getElementById("error");
  const onlineLine = document.getElementById("online");
  const form = document.getElementById("form");
  const input = document.getElementById("message");

  let lastId = 0; // the newest message shown: the history is asked for what came after it
  let lastTypingSent = 0;
  const pending = new Map(); // client_id -> list item of a message not yet stored
  const typing = new Map(); // username -> timer that takes them off the typing line

  const connection = new DjangoAsgiWs.Connection(url);

  connection.on("state", function ({ state }) {
    if (state === "open") {
      setStatus("open", "connected");
    } else if (state === "connecting") {
      setStatus("connecting", "connecting");
    }
  });

  connection.on("reconnecting", function ({ delay }) {
    onlineLine.textContent = "";
    typing.forEach(clearTimeout);
    typing.clear();
    renderTyping();
    setStatus("reconnecting", "reconnecting in " + (delay / 1000).toFixed(1) + " s");
  });

  connection.on("open", function ({ reconnected }) {
    if (!reconnected) {
      loadHistory();
    }
    // Messages whose post failed with the connection: the server stores each
    // client_id once, so one that did arrive is only confirmed again.
    for (const [clientId, item] of pending) {
      if (!item.dataset.posting) {
        post(clientId, item);
      }
    }
  });

  // The room's history could not give what was missed: fetch it by id instead.
  // (Typing notices missed meanwhile are not worth fetching.)
  connection.on("resync", function ({ groups }) {
    if (groups.some((group) => group.startsWith("chat.room."))) {
      loadHistory();
    }
  });

  connection.on("message", function ({ data, group }) {
    if (group && group.startsWith("chat.typing.")) {
      showTyping(data.user);
    } else {
      show(data);
    }
  });

  connection.on("presence", function ({ group, members }) {
    if (group.startsWith("chat.room.")) {
      onlineLine.textContent = Object.keys(members).sort().join(", ");
    }
  });

  connection.on("stop", function ({ code, reason }) {
    setStatus("closed", "closed: " + (reason || "code " + code));
    onlineLine.textContent = "";
    loginLink.hidden = code !== LOGIN_REQUIRED;
    for (const field of form.elements) {
      field.disabled = true;
    }
  });

  function setStatus(state, text) {
    status.dataset.state = state;
    status.textContent = text;
  }

  function loadHistory() {
    connection.request({ type: "history", after: lastId }).then(
      (history) => history.forEach(show),
      () => {} // the connection dropped: the next open or resync asks again
    );
  }

  function post(clientId, item) {
    item.dataset.posting = "yes";
    const request = { type: "post", text: item.dataset.text, client_id: clientId };
    connection.request(request).then(
      function (message) {
        show(message);
      },
      function (error) {
        delete item.dataset.posting;
        if (error.code === "invalid") {
          pending.delete(clientId);
          item.remove();
          errorLine.textContent = error.message;
          errorLine.hidden = false;
        } // else lost with the connection: posted again once it is back
      }
    );
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
        return; // in both a reply and the room's messages, or in the history too
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
    if (connection.state === "open") {
      post(clientId, item);
    } // else posted when the connection opens
    errorLine.hidden = true;
    input.value = "";
    lastTypingSent = 0;
  });

  input.addEventListener("input", function () {
    const now = Date.now();
    // Typing notices are never queued: stale ones would only mislead.
    if (input.value !== "" && connection.state === "open" && now - lastTypingSent >= TYPING_EVERY_MS) {
      lastTypingSent = now;
      connection.send({ type: "typing" });
    }
  });
})();
