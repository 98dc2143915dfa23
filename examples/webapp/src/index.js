import { message } from "./message.js";

function render(data) {
  document.getElementById("count").textContent = data.count;
  const list = document.getElementById("recent");
  list.replaceChildren(...data.recent.map((visit) => {
    const item = document.createElement("li");
    item.textContent = `#${visit.id} at ${new Date(visit.at).toLocaleTimeString()}`;
    return item;
  }));
}

async function refresh() {
  const response = await fetch("/api/visits");
  render(await response.json());
}

document.getElementById("message").textContent = message;
refresh();
setInterval(refresh, 2000);
