// Internal notes and whispers in the workspace: shown inline in the transcript, distinctly (never
// sent to the end user); the composer's "Internal note" switch writes one instead of a reply.
// `noteAsEntry` is pure (node --test); the transcript renders entries with direction "note".
import { api } from "../api.js";
import { activeConversation } from "./state.js";

/** A note of the API (or a note.created frame) as a transcript entry: it sorts after the message it
 * followed (after_seq + 0.5) and never moves the conversation's message cursor (state.js). */
export function noteAsEntry(note) {
  return {
    id: `note:${note.id}`,
    conversation_id: note.conversation_id,
    seq: (note.after_seq || 0) + 0.5,
    direction: "note",
    kind: note.kind || (note.whisper ? "whisper" : "note"),
    sender_name: note.author_name,
    text: note.text,
    attachments: [],
    created_at: note.created_at,
  };
}

/** Fetch conversation `id`'s notes as transcript entries. */
export async function loadNotes(API, id) {
  const notes = await api("GET", `${API}/conversations/${id}/notes/`);
  return notes.map(noteAsEntry);
}

/** The composer's note switch: while it is on, submitting writes an internal note. */
export function setupNotes(ws) {
  const form = document.getElementById("composer");
  const toggle = document.getElementById("composer-note");
  const textarea = document.getElementById("composer-text");
  if (!toggle) return;
  toggle.addEventListener("change", () => {
    form.classList.toggle("note-mode", toggle.checked);
    textarea.placeholder = toggle.checked
      ? "Internal note — only your colleagues and supervisors see it"
      : "Write a reply — Enter sends, Shift+Enter adds a line";
  });
  // Capture: runs before the composer's own submit (which sends to the end user).
  form.addEventListener(
    "submit",
    async (event) => {
      if (!toggle.checked) return;
      event.preventDefault();
      event.stopImmediatePropagation();
      const conv = activeConversation(ws.getState());
      const text = textarea.value;
      if (!conv || !text.trim()) return;
      try {
        const note = await api("POST", `${ws.API}/conversations/${conv.id}/notes/`, { text, whisper: false });
        ws.addOwnMessage(conv.id, noteAsEntry(note));
        textarea.value = "";
      } catch (error) {
        ws.showError(error);
      }
    },
    true,
  );
}
