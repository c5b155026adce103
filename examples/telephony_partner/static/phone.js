// The end user's phone: places the call through the partner, "speaks" by typing (the partner's
// speech-to-text stand-in posts the lines as transcript segments), and shows what the agent does
// (answer, hold, hang up…) as the partner carries out the agent's call controls.
const $ = (id) => document.getElementById(id);
let callId = null;
let started = null;
let timer = null;

function line(text, cls) {
  const el = document.createElement("div");
  el.className = `line ${cls}`;
  el.textContent = text;
  $("log").append(el);
  el.scrollIntoView({ block: "end" });
}

function setState(text) {
  $("state").textContent = text;
}

async function post(path, body) {
  const response = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function startClock() {
  started = Date.now();
  clearInterval(timer);
  timer = setInterval(() => {
    const s = Math.floor((Date.now() - started) / 1000);
    $("clock").textContent = `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
  }, 1000);
}

function ended(text) {
  setState("Call ended");
  clearInterval(timer);
  $("talk").hidden = true;
  $("dial").hidden = false;
  line(text, "status");
  callId = null;
}

function listen(id) {
  const source = new EventSource(`/api/events?call=${encodeURIComponent(id)}`);
  source.onmessage = (message) => {
    const frame = JSON.parse(message.data);
    if (frame.kind === "status") {
      line(frame.text, "status");
      if (frame.text.startsWith("An agent answered") || frame.text.startsWith("The agent is back")) setState("Connected");
      if (frame.text.startsWith("You are on hold")) setState("On hold");
    } else if (frame.kind === "line") {
      line(`${frame.who}: ${frame.text}`, "agent");
    } else if (frame.kind === "ended") {
      source.close();
      ended(frame.reason === "transferred" ? "Your call was transferred." : "The call has ended.");
    }
  };
}

$("dial").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("error").textContent = "";
  try {
    const call = await post("/api/call", { phone: $("number").value, name: $("name").value });
    callId = call.call_id;
    $("log").replaceChildren();
    listen(callId);
    setState("Ringing…");
    startClock();
    $("dial").hidden = true;
    $("talk").hidden = false;
    $("text").focus();
  } catch (error) {
    $("error").textContent = error.message;
  }
});

$("say").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("text").value.trim();
  if (!text || !callId) return;
  $("text").value = "";
  line(text, "me");
  try {
    await post("/api/say", { call_id: callId, text });
  } catch (error) {
    $("error").textContent = error.message;
  }
});

$("hangup-button").addEventListener("click", async () => {
  if (!callId) return;
  try {
    await post("/api/hangup", { call_id: callId });
  } catch (error) {
    $("error").textContent = error.message;
  }
});
