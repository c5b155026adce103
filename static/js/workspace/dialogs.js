// The dialogs: transfer (colleagues with status and load, the tenant's queues, a bot) and new
// conversation (the outbound endpoint is consent-gated: a refusal arrives as 403 consent_denied).
import { ApiError, api } from "../api.js";
import { h, safeText } from "../text.js";
import { activeConversation } from "./state.js";

const $ = (id) => document.getElementById(id);

/** Wire both dialogs. `ws` is the workspace (workspace.js): API, me, getState, setActive, resync,
 * showNotice, forward. */
export function setupDialogs(ws) {
  async function transfer(body, label) {
    const conv = activeConversation(ws.getState());
    if (!conv) return;
    $("transfer-error").textContent = "";
    try {
      await api("POST", `${ws.API}/conversations/${conv.id}/transfer/`, body);
      $("transfer-dialog").close();
      ws.showNotice(`Transfer to ${label} requested. You stay in the conversation until it is accepted.`);
      ws.forward("transfer", { conversation_id: conv.id, ...body }, conv.channel_address_id);
    } catch (error) {
      $("transfer-error").textContent = safeText(error instanceof ApiError ? error.message : "The transfer failed.");
    }
  }

  $("transfer-button").addEventListener("click", async () => {
    $("transfer-error").textContent = "";
    $("transfer-agents").replaceChildren(h("li", { class: "muted" }, "Loading who is available…"));
    $("transfer-queues").replaceChildren();
    $("transfer-dialog").showModal();
    try {
      const directory = await api("GET", `${ws.API}/directory/`);
      const others = directory.agents.filter((a) => a.id !== ws.me);
      $("transfer-agents").replaceChildren(
        ...(others.length
          ? others.map((a) => {
              const load = Object.entries(a.capacity || {}).map(([kind, c]) => `${kind} ${c.used}/${c.max}`).join(", ") || "no capacity set";
              return h(
                "li",
                { class: "pick" },
                h("span", { class: "pick-name" }, a.name),
                h("span", { class: `status status-${a.status}` }, a.status),
                h("span", { class: "muted" }, load),
                h("button", { type: "button", disabled: a.status === "offline", onclick: () => transfer({ agent_id: a.id }, a.name) }, `Transfer to ${a.name}`),
              );
            })
          : [h("li", { class: "muted" }, "No colleagues in this contact center.")]),
      );
      $("transfer-queues").replaceChildren(
        ...(directory.queues.length
          ? directory.queues.map((q) => h("li", { class: "pick" }, h("span", { class: "pick-name" }, q), h("button", { type: "button", onclick: () => transfer({ queue: q }, `the ${q} queue`) }, `Transfer to ${q}`)))
          : [h("li", { class: "muted" }, "No queues.")]),
      );
    } catch (error) {
      $("transfer-error").textContent = safeText(error instanceof ApiError ? error.message : "Could not load the directory.");
    }
  });

  $("transfer-bot").addEventListener("submit", (event) => {
    event.preventDefault();
    const bot = $("transfer-bot-name").value.trim();
    if (bot) transfer({ bot }, bot);
  });

  $("new-conversation").addEventListener("click", () => {
    $("outbound-error").textContent = "";
    const channels = ws.getState().channels.filter((c) => c.is_active);
    $("outbound-channel").replaceChildren(...channels.map((c) => h("option", { value: c.channel_address_id }, `${c.name} (${c.channel_type})`)));
    $("outbound-dialog").showModal();
  });
  $("outbound-cancel").addEventListener("click", () => $("outbound-dialog").close());
  $("outbound-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("outbound-error").textContent = "";
    try {
      const result = await api("POST", `${ws.API}/outbound/`, {
        channel_address_id: $("outbound-channel").value,
        address: $("outbound-address").value.trim(),
        text: $("outbound-text").value,
      });
      $("outbound-dialog").close();
      $("outbound-form").reset();
      const id = result && (result.conversation_id || result.id);
      if (id) ws.setActive(id);
      await ws.resync();
    } catch (error) {
      let text = error instanceof ApiError ? error.message : "The conversation could not be started.";
      if (error instanceof ApiError && error.status === 404 && error.code === "not_found") {
        text = "Starting conversations is not available on this server yet.";
      }
      $("outbound-error").textContent = safeText(text);
    }
  });
}
