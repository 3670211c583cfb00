// Embeds the page's Vega-Lite specs (vega.js, bundled locally) and ties the incidents table to the KPI
// chart's country and OS controls. `document.body.dataset.ready` says when every chart has rendered.
window.sentinelViews = {};

function filterIncidents(country, os) {
  const rows = Array.from(document.querySelectorAll("#incidents tbody tr"));
  const touches = (value, chosen) => chosen === "All" || value === chosen || value === "*";
  let shown = 0;
  for (const row of rows) {
    row.hidden = !(touches(row.dataset.country, country) && touches(row.dataset.os, os));
    if (!row.hidden) shown += 1;
  }
  const caption = document.getElementById("incidents-shown");
  if (caption) {
    const where = `${country === "All" ? "all countries" : country} / ${os === "All" ? "all OS" : os}`;
    caption.textContent = `${shown} of ${rows.length} incidents touch ${where}`;
  }
}

(async () => {
  const specs = JSON.parse(document.getElementById("specs").textContent);
  for (const [id, spec] of Object.entries(specs)) {
    // the chart's controls (country, OS, feed) go above it, into #<id>-controls
    const options = { actions: false, renderer: "svg", bind: `#${id}-controls` };
    const result = await vegaEmbed(`#${id}`, spec, options);
    window.sentinelViews[id] = result.view;
  }
  const kpi = window.sentinelViews.kpi;
  if (kpi) {
    const update = () => filterIncidents(kpi.signal("country"), kpi.signal("os"));
    kpi.addSignalListener("country", update);
    kpi.addSignalListener("os", update);
    update();
  }
  document.body.dataset.ready = "true";
})();
