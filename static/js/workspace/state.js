// The workspace state and its pure transitions. Nothing here touches the DOM, the network or timers,
// so it runs under `node --test` (static/js/tests/). A transition returns a new state and never
// changes the one it was given; unchanged parts (messages of other conversations…) are shared.

export const STATUS_RANK = { sent: 1, delivered: 2, read: 3, failed: 4 };

/** The state of a freshly loaded page. `me` is the agent's membership id (config.agent.id). */
export function createState(me = null) {
  return {
    me,
    agent: null,
    works: new Map(), // work_id -> work (offered, accepted, acw)
    conversations: new Map(), // id -> conversation with its messages
    activeId: null,
    channels: [],
    history: [],
    panel: "summary",
  };
}

function emptyConversation(id) {
  return { id, messages: new Map(), lastId: null, lastSeq: -1, typing: false, unread: 0, gone: "" };
}

/** The conversation `row` describes (a row of GET /agent/state/, or an offer's attributes), merged
 * into what is already known of it. */
export function upsertConversation(state, row) {
  const known = state.conversations.get(row.id) || emptyConversation(row.id);
  const conv = {
    ...known,
    status: row.status ?? known.status,
    contact_name: row.contact_name ?? known.contact_name,
    contact_id: row.contact_id ?? known.contact_id,
    channel_name: row.channel_name ?? known.channel_name,
    channel_address_id: row.channel_address_id ?? known.channel_address_id,
    end_user: row.end_user ?? known.end_user,
    sla: row.sla !== undefined ? row.sla : known.sla, // the most urgent running SLA clock (sla.js)
    gone: "",
  };
  return withConversation(state, conv);
}

/** `state` with `conv` replacing the conversation of the same id. */
export function withConversation(state, conv) {
  const conversations = new Map(state.conversations);
  conversations.set(conv.id, conv);
  return { ...state, conversations };
}

/** The conversation with one message added or updated: deduplicated by id, a status never goes
 * backwards. `added` says whether the message was new. */
export function conversationWithMessage(conv, message) {
  const known = conv.messages.get(message.id);
  if (known) {
    if ((STATUS_RANK[message.status] || 0) <= (STATUS_RANK[known.status] || 0)) return { conv, added: false };
    const messages = new Map(conv.messages);
    messages.set(message.id, { ...known, ...message });
    return { conv: { ...conv, messages }, added: false };
  }
  const messages = new Map(conv.messages);
  messages.set(message.id, message);
  const next = { ...conv, messages };
  // an internal note (notes.js) sits between messages but is not one: the message cursor stays
  if (message.direction !== "note" && message.seq > conv.lastSeq) {
    next.lastSeq = message.seq;
    next.lastId = message.id;
  }
  if (message.direction === "inbound") next.typing = false;
  return { conv: next, added: true };
}

/** `state` with `messages` (of conversation `id`) merged in; unknown conversations are left alone. */
export function withMessages(state, id, messages) {
  let conv = state.conversations.get(id);
  if (!conv) return state;
  for (const message of messages) conv = conversationWithMessage(conv, message).conv;
  return withConversation(state, conv);
}

/** `state` after GET /agent/state/: presence, works and held conversations from the server; a
 * conversation no longer held is kept (readable) and marked as left. */
export function withAgentState(state, data) {
  let next = { ...state, agent: data.agent, works: new Map(data.work.map((w) => [w.work_id, w])) };
  const held = [];
  for (const row of data.conversations) {
    next = upsertConversation(next, row);
    held.push(row.id);
  }
  const heldSet = new Set(held);
  for (const conv of next.conversations.values()) {
    if (!heldSet.has(conv.id) && conv.status !== "closed" && !conv.gone) {
      next = withConversation(next, { ...conv, gone: "You left this conversation" });
    }
  }
  if (!next.activeId && held.length) next = { ...next, activeId: held[0] };
  return next;
}

/** `state` after the agent's own accept answered with `conversation` (the accept response): the work
 * is in progress, the conversation is held and shown. Its transcript is fetched by the caller. */
export function withAccepted(state, workId, conversation) {
  const works = new Map(state.works);
  const work = works.get(workId);
  const a = work?.attributes || {};
  if (work) works.set(workId, { ...work, status: "accepted" });
  const next = upsertConversation(
    { ...state, works },
    {
      id: conversation.id,
      status: conversation.status,
      channel_address_id: conversation.channel_address_id,
      end_user: conversation.end_user,
      contact_id: conversation.contact?.id ?? a.contact_id,
      contact_name: conversation.contact?.name || a.contact_name || conversation.end_user,
      channel_name: a.channel_name || state.conversations.get(conversation.id)?.channel_name || conversation.channel_address_id,
      sla: conversation.sla, // the accept's answer carries the SLA clock (sla.js)
    },
  );
  return withActive(next, conversation.id);
}

/** `state` with conversation `id` shown, its unread count cleared. */
export function withActive(state, id) {
  const conv = state.conversations.get(id);
  const next = { ...state, activeId: id };
  return conv && conv.unread ? withConversation(next, { ...conv, unread: 0 }) : next;
}

/** `state` without work `workId`. */
export function withoutWork(state, workId) {
  if (!state.works.has(workId)) return state;
  const works = new Map(state.works);
  works.delete(workId);
  return { ...state, works };
}

/** `state` with work `workId` changed by `patch` (no-op when it is not known). */
export function withWorkPatch(state, workId, patch) {
  const work = state.works.get(workId);
  if (!work) return state;
  const works = new Map(state.works);
  works.set(workId, { ...work, ...patch });
  return { ...state, works };
}

/** `state` with conversation `id` changed by `patch` (no-op when it is not known). */
export function withConversationPatch(state, id, patch) {
  const conv = state.conversations.get(id);
  return conv ? withConversation(state, { ...conv, ...patch }) : state;
}

/** `state` without conversation `id` (an ended one the agent removes from the list). */
export function withoutConversation(state, id) {
  const conversations = new Map(state.conversations);
  conversations.delete(id);
  const activeId = state.activeId === id ? (conversations.size ? [...conversations.keys()][0] : null) : state.activeId;
  return { ...state, conversations, activeId };
}

export function activeConversation(state) {
  return state.activeId ? state.conversations.get(state.activeId) || null : null;
}

export const secondsLeft = (iso, now = Date.now()) => Math.max(0, Math.ceil((new Date(iso).getTime() - now) / 1000));

/** The offers still open at `now`, in the order they came. */
export function openOffers(state, now = Date.now()) {
  return [...state.works.values()].filter((w) => w.status === "offered" && secondsLeft(w.expires_at, now) > 0);
}

/** "Transferred to a colleague", "Closed" or "" (open) — what the list and header say of `conv`. */
export function conversationLabel(conv) {
  if (conv.gone) return conv.gone;
  if (conv.status === "closed") return "Closed";
  return "";
}

/** Messages of `conv` in conversation order. */
export function orderedMessages(conv) {
  return [...conv.messages.values()].sort((a, b) => a.seq - b.seq);
}
