/*!
 * ccp connector SDK — the partner side of the ccp workspace connector protocol (docs/connectors.md).
 * Include it in your connector page, then:
 *
 *   const connector = CcpConnector.connect({
 *     hostOrigins: ["https://ccp.example.com"],     // the workspace origins you accept
 *     name: "Acme WhatsApp connector",
 *     onContext(ctx) {},                               // {agent, channel} — log the agent in here
 *     onEvent(event) {},                               // {type, data}: accept, decline, message, transfer, close, status
 *   });
 *   connector.ready();                                 // after your own login: the workspace shows "Logged in to channel …"
 *   await connector.action("send_message", {conversation_id, text});
 *   await connector.action("set_status", {status: "away"});
 *   await connector.action("call_control", {call_id, control: "hold"});   // or mute, hangup, send_dtmf…
 *
 * By default `ready()` is sent right after the context arrives; pass `autoReady: false` to send it yourself.
 */
(function (global) {
  "use strict";
  var PROTOCOL = 1;

  function connect(options) {
    var allowed = (options && options.hostOrigins) || [];
    if (!allowed.length) throw new Error("CcpConnector.connect needs hostOrigins: the workspace origins you trust");
    var autoReady = options.autoReady !== false;
    var hostOrigin = null; // locked to the first allowed origin that sends ccp:init
    var host = null;
    var context = null;
    var pending = {};
    var nextId = 1;
    var readySent = false;

    function post(message) {
      if (!host) throw new Error("the workspace has not initialised this connector yet");
      message.ccp = PROTOCOL;
      host.postMessage(message, hostOrigin);
    }

    function ready() {
      if (readySent || !context) return;
      readySent = true;
      post({ type: "ccp:ready" });
    }

    global.addEventListener("message", function (event) {
      var message = event.data;
      if (!message || message.ccp !== PROTOCOL || typeof message.type !== "string") return;
      if (allowed.indexOf(event.origin) === -1) return;
      if (hostOrigin && event.origin !== hostOrigin) return;
      if (event.source !== global.parent) return;
      if (message.type === "ccp:init") {
        if (hostOrigin) return; // answered already; retries of ccp:init are ignored
        hostOrigin = event.origin;
        host = event.source;
        post({ type: "ccp:initialized", protocol: PROTOCOL, connector: { name: options.name || document.title } });
      } else if (message.type === "ccp:context") {
        context = { agent: message.agent, channel: message.channel };
        if (options.onContext) options.onContext(context);
        if (autoReady) ready();
      } else if (message.type === "ccp:event") {
        if (options.onEvent) options.onEvent(message.event);
      } else if (message.type === "ccp:action_result") {
        var waiter = pending[message.id];
        if (!waiter) return;
        delete pending[message.id];
        if (message.ok) waiter.resolve(message.result);
        else {
          var error = new Error((message.error && message.error.message) || "The action failed.");
          error.code = message.error && message.error.code;
          waiter.reject(error);
        }
      }
    });

    return {
      ready: ready,
      get context() {
        return context;
      },
      /** Ask the workspace to run a channel action; resolves with its result, rejects with {code, message}. */
      action: function (name, params) {
        var id = String(nextId++);
        return new Promise(function (resolve, reject) {
          pending[id] = { resolve: resolve, reject: reject };
          var message = {};
          for (var key in params || {}) message[key] = params[key];
          message.type = "ccp:action";
          message.id = id;
          message.action = name;
          try {
            post(message);
          } catch (error) {
            delete pending[id];
            reject(error);
          }
        });
      },
    };
  }

  global.CcpConnector = { connect: connect, PROTOCOL: PROTOCOL };
})(window);
