// The composer: Enter sends, Shift+Enter is a new line; the agent's typing is sent debounced (true
// on the first keystroke, false 3 s after the last one or on send); attachments are added by URL.
import { api } from "../api.js";
import { h } from "../text.js";
import { activeConversation } from "./state.js";

const $ = (id) => document.getElementById(id);
const TYPING_IDLE_MS = 3000;

/** Wire the composer to the page. `ws` is the workspace (workspace.js): API, getState, commit,
 * addOwnMessage, showError, showNotice, forward. */
export function setupComposer(ws) {
  const pending = [];
  let typingOn = false;
  let typingConv = null;
  let typingTimer = null;

  function setTyping(on) {
    const state = ws.getState();
    const conv = on ? activeConversation(state) : state.conversations.get(typingConv);
    if (!conv || typingOn === on) return;
    typingOn = on;
    typingConv = conv.id;
    api("POST", `${ws.API}/conversations/${conv.id}/typing/`, { typing: on }).catch(() => {
      // a lost typing hint is harmless; the next keystroke sends another
    });
  }

  function renderAttachments() {
    $("attachments").replaceChildren(
      ...pending.map((a, i) =>
        h("li", {}, a.name, " ", h("button", { type: "button", "aria-label": `Remove ${a.name}`, onclick: () => { pending.splice(i, 1); renderAttachments(); } }, "×")),
      ),
    );
  }

  function addAttachment() {
    const input = $("attachment-url");
    const url = input.value.trim();
    if (!url) return;
    if (!/^https?:\/\/\S+$/i.test(url)) {
      ws.showNotice("An attachment must be a web address starting with http:// or https://.", "error");
      return;
    }
    const name = decodeURIComponent(new URL(url).pathname.split("/").pop() || url);
    pending.push({ url, name });
    input.value = "";
    renderAttachments();
  }

  $("composer-text").addEventListener("input", () => {
    if (typingOn && typingConv !== ws.getState().activeId) setTyping(false);
    if ($("composer-text").value.trim()) setTyping(true);
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => setTyping(false), TYPING_IDLE_MS);
  });

  $("composer-text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });

  $("attach-button").addEventListener("click", addAttachment);
  $("attachment-url").addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      addAttachment();
    }
  });

  $("composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const conv = activeConversation(ws.getState());
    const text = $("composer-text").value;
    if (!conv || (!text.trim() && !pending.length)) return;
    clearTimeout(typingTimer);
    setTyping(false);
    $("send-button").disabled = true;
    try {
      const message = await api("POST", `${ws.API}/conversations/${conv.id}/messages/`, { text, attachments: pending.slice() });
      ws.addOwnMessage(conv.id, message);
      $("composer-text").value = "";
      pending.length = 0;
      renderAttachments();
      ws.forward("message", { conversation_id: conv.id, message_id: message.id, text: message.text }, conv.channel_address_id);
    } catch (error) {
      ws.showError(error);
    } finally {
      ws.commit(ws.getState(), ["conversation"]); // the send button follows the conversation again
    }
  });
}

