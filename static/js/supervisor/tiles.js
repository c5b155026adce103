// KPI tiles (the live view's and the reports page's): [label, value] pairs as <div class="tile">, text only.
export function renderTiles(box, list) {
  box.replaceChildren(
    ...list.map(([label, value]) => {
      const tile = document.createElement("div");
      tile.className = "tile";
      const v = document.createElement("strong");
      v.textContent = value;
      const l = document.createElement("span");
      l.textContent = label;
      tile.append(v, l);
      return tile;
    }),
  );
}
