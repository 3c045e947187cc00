// The chat page: one WebSocket to /chat/<room>/, reconnecting if it drops.
(function () {
  "use strict";
  var root = document.getElementById("chat");
  var room = root.dataset.room;
  var log = document.getElementById("chat-log");
  var form = document.getElementById("chat-form");
  var input = document.getElementById("chat-input");
  var status = document.getElementById("chat-status");
  var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  var socket = null;
  var retryDelay = 1000;

  function append(data) {
    var item = document.createElement("li");
    var who = document.createElement("strong");
    who.textContent = data.username;
    item.appendChild(who);
    item.appendChild(document.createTextNode(" " + data.message));
    log.appendChild(item);
    item.scrollIntoView({ block: "end" });
  }

  function connect() {
    socket = new WebSocket(scheme + window.location.host + "/chat/" + room + "/");
    socket.onopen = function () {
      status.textContent = "connected";
      retryDelay = 1000;
    };
    socket.onmessage = function (event) {
      append(JSON.parse(event.data));
    };
    socket.onclose = function () {
      status.textContent = "disconnected; reconnecting…";
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 30000);
    };
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (text && socket && socket.readyState === WebSocket.OPEN) {
      socket.send(text);
      input.value = "";
    }
  });

  connect();
})();
