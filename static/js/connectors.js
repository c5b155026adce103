// Host side of the connector protocol (docs/connectors.md): one sandboxed iframe per installed
// package whose channel definition names a connector URL. Every message is origin-checked.

import { safeText } from "./text.js";

const PROTOCOL = 1;
const INIT_RETRIES = 10;

export class ConnectorHost {
  /**
   * @param channel   {name, channel_address_id, channel_type, package, connector_url}
   * @param container element the iframe goes into
   * @param context   () => ({agent}) — what the host tells the connector after `ccp:initialized`
   * @param onAction  async (action) => result — routes `ccp:action` to the platform API
   * @param onStatus  (text, state) => void
   */
  constructor({ channel, container, context, onAction, onStatus }) {
    this.channel = channel;
    this.url = new URL(channel.connector_url, location.href);
    this.origin = this.url.origin;
    this.context = context;
    this.onAction = onAction;
    this.onStatus = onStatus;
    this.state = "loading";
    this.frame = document.createElement("iframe");
    this.frame.title = safeText(`Connector for ${channel.name}`);
    this.frame.className = "connector-frame";
    // A connector on the workspace's own origin would escape the sandbox with allow-same-origin;
    // a cross-origin one keeps its own origin, which is what lets both sides check origins.
    this.sameOrigin = this.origin === location.origin;
    this.frame.setAttribute("sandbox", this.sameOrigin ? "allow-scripts allow-forms" : "allow-scripts allow-forms allow-same-origin");
    this.frame.setAttribute("referrerpolicy", "origin");
    this.listener = (event) => this.receive(event);
    window.addEventListener("message", this.listener);
    this.frame.addEventListener("load", () => this.sendInit());
    this.frame.src = this.url.href;
    container.append(this.frame);
    this.setStatus("loading", `Connecting to channel ${channel.name}…`);
  }

  setStatus(state, text) {
    this.state = state;
    this.onStatus(this, text, state);
  }

  post(message) {
    if (!this.frame.contentWindow) return;
    this.frame.contentWindow.postMessage({ ccp: PROTOCOL, ...message }, this.origin);
  }

  sendInit() {
    if (this.sameOrigin) {
      this.setStatus("error", `Connector for ${this.channel.name} refused: it must be served from another origin.`);
      return;
    }
    let tries = 0;
    clearInterval(this.initTimer);
    const send = () => {
      if (this.state !== "loading" || tries >= INIT_RETRIES) {
        clearInterval(this.initTimer);
        if (this.state === "loading") this.setStatus("error", `Connector for ${this.channel.name} did not answer.`);
        return;
      }
      tries += 1;
      this.post({ type: "ccp:init", protocol: PROTOCOL });
    };
    send();
    this.initTimer = setInterval(send, 500);
  }

  receive(event) {
    if (event.source !== this.frame.contentWindow || event.origin !== this.origin) return;
    const message = event.data;
    if (!message || message.ccp !== PROTOCOL || typeof message.type !== "string") return;
    if (message.type === "ccp:initialized") {
      if (this.state !== "loading") return;
      clearInterval(this.initTimer);
      this.state = "initialized";
      const { agent } = this.context();
      this.post({
        type: "ccp:context",
        agent,
        channel: {
          name: this.channel.name,
          channel_address_id: this.channel.channel_address_id,
          channel_type: this.channel.channel_type,
          package: this.channel.package,
        },
      });
    } else if (message.type === "ccp:ready") {
      if (this.state !== "initialized") return;
      this.setStatus("ready", `Logged in to channel ${this.channel.name}`);
    } else if (message.type === "ccp:action") {
      this.runAction(message);
    }
  }

  async runAction(message) {
    if (this.state !== "ready") {
      this.post({ type: "ccp:action_result", id: message.id, ok: false, error: { code: "not_ready", message: "Finish the handshake first." } });
      return;
    }
    try {
      const result = await this.onAction(this, message);
      this.post({ type: "ccp:action_result", id: message.id, ok: true, result: result ?? null });
    } catch (error) {
      this.post({
        type: "ccp:action_result",
        id: message.id,
        ok: false,
        error: { code: error.code || "failed", message: error.message || "The action failed." },
      });
    }
  }

  /** Forward an agent event (accept, decline, message, transfer, close, status) once ready. */
  forward(type, data) {
    if (this.state !== "ready") return;
    this.post({ type: "ccp:event", event: { type, data } });
  }

  destroy() {
    clearInterval(this.initTimer);
    window.removeEventListener("message", this.listener);
    this.frame.remove();
  }
}
